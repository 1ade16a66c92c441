export default {
  title: 'Organizations',
} as const;

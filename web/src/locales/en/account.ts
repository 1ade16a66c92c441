export default {
  title: 'Your account',
  nav: { label: 'Account', profile: 'Profile', security: 'Security', sessions: 'Sessions and devices', notifications: 'Notifications', organizations: 'Organizations' },
} as const;

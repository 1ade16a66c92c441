import type en from '../en/orgs';
import type { Messages } from '../types';

export default {
  title: 'Organizaciones',
} satisfies Messages<typeof en>;

import type en from '../en/notifications';
import type { Messages } from '../types';

export default {
  title: 'Notificaciones',
} satisfies Messages<typeof en>;

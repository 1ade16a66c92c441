import type en from '../en/account';
import type { Messages } from '../types';

export default {
  title: 'Tu cuenta',
  nav: { label: 'Cuenta', profile: 'Perfil', security: 'Seguridad', sessions: 'Sesiones y dispositivos', notifications: 'Notificaciones', organizations: 'Organizaciones' },
} satisfies Messages<typeof en>;

import type en from '../en/notifications';
import type { Messages } from '../types';

export default {
  title: 'Notificaciones',
  badge: '{{count}} sin leer',
  inbox: {
    heading: 'Bandeja de entrada',
    empty: 'Aún no tienes notificaciones.',
    unread: 'Sin leer',
    markRead: 'Marcar como leída',
    markAllRead: 'Marcar todas como leídas',
    loadMore: 'Cargar más',
    open: 'Abrir',
    received: 'Recibida {{when}}',
    arrived: 'Nueva notificación: {{title}}',
    allRead: 'Todas las notificaciones están marcadas como leídas.',
    summary_one: '{{count}} notificación sin leer',
    summary_other: '{{count}} notificaciones sin leer',
    summaryNone: 'Todo está leído.',
    reconnecting: 'Reconectando las actualizaciones en directo…',
    ended: 'Las actualizaciones en directo se han detenido: tu sesión ha terminado. Vuelve a iniciar sesión para ver las nuevas notificaciones.',
  },
  preferences: {
    heading: 'Preferencias',
    intro: 'Elige qué mensajes te llegan y cómo. Los mensajes de seguridad (alertas de inicio de sesión, restablecimiento de contraseña) se envían siempre.',
    category: 'Tipo de mensaje',
    cell: '{{category}}: {{channel}}',
    always: 'Siempre activado',
    save: 'Guardar preferencias',
    saved: 'Guardado. Tus preferencias se han actualizado.',
    categories: {
      security: 'Seguridad',
      account: 'Cuenta',
      organization: 'Organizaciones',
      product: 'Novedades del producto',
      marketing: 'Noticias y ofertas',
    },
    channels: { email: 'Correo electrónico', sms: 'SMS', push: 'Notificación push', in_app: 'En la aplicación' },
  },
  errors: {
    notification_not_found: 'Esta notificación ya no existe.',
    security_required: 'Los mensajes de seguridad no se pueden desactivar.',
  },
} satisfies Messages<typeof en>;

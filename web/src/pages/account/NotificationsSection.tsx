import { useTranslation } from 'react-i18next';

/** TODO(#13): the in-app inbox and preferences. */
export function NotificationsSection() {
  const { t } = useTranslation('account');
  return <h1>{t('nav.notifications')}</h1>;
}

/** TODO(#13): the live unread count beside "Notifications". */
export function UnreadBadge() {
  return null;
}

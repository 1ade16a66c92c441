import { useTranslation } from 'react-i18next';
import { formatNumber } from '../../lib/format';
import { Inbox } from './notifications/Inbox';
import { useLive } from './notifications/live';
import { PreferencesForm } from './notifications/Preferences';
import './notifications/notifications.css';

/** /account/notifications: the in-app inbox (live) and the notification preferences. */
export function NotificationsSection() {
  const { t } = useTranslation('notifications');
  return (
    <>
      <h1>{t('title')}</h1>
      <Inbox />
      <PreferencesForm />
    </>
  );
}

/**
 * The unread count beside "Notifications" in the account center's nav, kept current by the same
 * live stream as the inbox. Its accessible name is a sentence ("3 unread"); nothing when all is read.
 */
export function UnreadBadge() {
  const { t } = useTranslation('notifications');
  const { unread } = useLive();
  if (!unread) return null;
  return (
    <span className="badge unread-badge">
      <span aria-hidden="true">{formatNumber(unread)}</span>
      <span className="vh"> {t('badge', { count: unread })}</span>
    </span>
  );
}

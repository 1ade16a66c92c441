import { useTranslation } from 'react-i18next';

/** TODO(#13): the sessions section of the account center. */
export function SessionsSection() {
  const { t } = useTranslation('account');
  return <h1>{t('nav.sessions')}</h1>;
}

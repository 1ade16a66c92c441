import { useTranslation } from 'react-i18next';

/** TODO(#13): the security section of the account center. */
export function SecuritySection() {
  const { t } = useTranslation('account');
  return <h1>{t('nav.security')}</h1>;
}

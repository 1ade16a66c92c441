import { useTranslation } from 'react-i18next';

/** TODO(#13): the organizations section of the account center. */
export function OrganizationsSection() {
  const { t } = useTranslation('account');
  return <h1>{t('nav.organizations')}</h1>;
}

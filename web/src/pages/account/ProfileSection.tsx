import { useTranslation } from 'react-i18next';

/** TODO(#13): the profile section of the account center. */
export function ProfileSection() {
  const { t } = useTranslation('account');
  return <h1>{t('nav.profile')}</h1>;
}

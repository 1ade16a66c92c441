import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { AuthLayout } from '../components/Layout';

export function NotFoundPage() {
  const { t } = useTranslation();
  return (
    <AuthLayout title={t('notFound.title')}>
      <p>{t('notFound.body')}</p>
      <p>
        <Link to="/">{t('notFound.home')}</Link>
      </p>
    </AuthLayout>
  );
}

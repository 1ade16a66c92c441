import { AuthLayout } from '../../components/Layout';

/** TODO(#13): ForgotPasswordPage. */
export function Page() {
  return <AuthLayout title="ForgotPasswordPage">{null}</AuthLayout>;
}

import { AuthLayout } from '../../components/Layout';

/** TODO(#13): ResetPasswordPage. */
export function Page() {
  return <AuthLayout title="ResetPasswordPage">{null}</AuthLayout>;
}

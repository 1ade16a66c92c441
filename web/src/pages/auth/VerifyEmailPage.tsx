import { AuthLayout } from '../../components/Layout';

/** TODO(#13): VerifyEmailPage. */
export function Page() {
  return <AuthLayout title="VerifyEmailPage">{null}</AuthLayout>;
}

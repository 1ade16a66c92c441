import { AuthLayout } from '../../components/Layout';

/** TODO(#13): MfaEnrollPage. */
export function Page() {
  return <AuthLayout title="MfaEnrollPage">{null}</AuthLayout>;
}

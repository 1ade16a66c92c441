import { AuthLayout } from '../../components/Layout';

/** TODO(#13): MfaRecoverPage. */
export function Page() {
  return <AuthLayout title="MfaRecoverPage">{null}</AuthLayout>;
}

import { AuthLayout } from '../../components/Layout';

/** TODO(#13): MfaPage. */
export function Page() {
  return <AuthLayout title="MfaPage">{null}</AuthLayout>;
}

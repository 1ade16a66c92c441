import { AuthLayout } from '../../components/Layout';

/** TODO(#13): SignUpPage. */
export function Page() {
  return <AuthLayout title="SignUpPage">{null}</AuthLayout>;
}

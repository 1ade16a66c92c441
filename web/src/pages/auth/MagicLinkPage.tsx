import { AuthLayout } from '../../components/Layout';

/** TODO(#13): MagicLinkPage. */
export function Page() {
  return <AuthLayout title="MagicLinkPage">{null}</AuthLayout>;
}

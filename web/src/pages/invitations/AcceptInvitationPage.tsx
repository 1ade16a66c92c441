import { AuthLayout } from '../../components/Layout';

/** TODO(#13): AcceptInvitationPage. */
export function Page() {
  return <AuthLayout title="AcceptInvitationPage">{null}</AuthLayout>;
}

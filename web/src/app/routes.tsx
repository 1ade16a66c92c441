import { Navigate, type RouteObject } from 'react-router';
import { Loading } from '../components/Alert';
import { useSession } from '../lib/session';
import { NotFoundPage } from '../pages/NotFoundPage';
import { SignInPage } from '../pages/auth/SignInPage';

/**
 * `/`: the sign-in page for a visitor, the account center for a signed-in person. The sign-in page
 * is in the first bundle (it must be interactive at once); every other page loads on demand.
 */
function Home() {
  const { state } = useSession();
  if (state.status === 'loading') return <Loading />;
  if (state.status === 'signed-in') return <Navigate to="/account" replace />;
  return <SignInPage />;
}

/** A page module loaded on demand: its export named `Page`. */
const lazyPage = (load: () => Promise<{ Page: React.ComponentType }>) => async () => ({ Component: (await load()).Page });

/** Every path people bookmark or mails link to (the server answers the app shell on each: src/platform/http/pages.ts). */
export const routes: RouteObject[] = [
  { path: '/', Component: Home },
  { path: '/sign-in', Component: SignInPage },
  { path: '/sign-up', lazy: lazyPage(() => import('../pages/auth/SignUpPage')) },
  { path: '/verify-email', lazy: lazyPage(() => import('../pages/auth/VerifyEmailPage')) },
  { path: '/forgot-password', lazy: lazyPage(() => import('../pages/auth/ForgotPasswordPage')) },
  { path: '/reset-password', lazy: lazyPage(() => import('../pages/auth/ResetPasswordPage')) },
  { path: '/magic-link', lazy: lazyPage(() => import('../pages/auth/MagicLinkPage')) },
  { path: '/mfa', lazy: lazyPage(() => import('../pages/auth/MfaPage')) },
  { path: '/mfa/enroll', lazy: lazyPage(() => import('../pages/auth/MfaEnrollPage')) },
  { path: '/mfa/recover', lazy: lazyPage(() => import('../pages/auth/MfaRecoverPage')) },
  { path: '/invitations/accept', lazy: lazyPage(() => import('../pages/invitations/AcceptInvitationPage')) },
  // Drawn from the data oidc-provider's device flow puts in the shell (the server answers this path itself).
  { path: '/oauth/device', lazy: lazyPage(() => import('../pages/device/DevicePage')) },
  { path: '/oauth/device/:uid', lazy: lazyPage(() => import('../pages/device/DevicePage')) },
  { path: '/authorize/:uid', lazy: lazyPage(() => import('../pages/authorize/AuthorizePage')) },
  { path: '/account/*', lazy: lazyPage(() => import('../pages/account/AccountPage')) },
  { path: '*', Component: NotFoundPage },
];

import { useNavigate, useSearchParams } from 'react-router';
import type { paths } from '../api/schema';
import { useExperience } from './experience';
import { isExternal, safeReturnTo } from './return-to';
import { useSession } from './session';

/** What every sign-in call answers: the session (cookie mode) or the second-factor step. */
export type SignInReply = paths['/v1/auth/login']['post']['responses'][200]['content']['application/json'];
export type MfaChallenge = Extract<SignInReply, { mfa_required: true }>;

/** The `return_to` of the current page, when it is safe to follow (else null). */
export function useReturnTo(): string | null {
  const [params] = useSearchParams();
  const { redirect_origins: origins } = useExperience();
  return safeReturnTo(params.get('return_to'), origins);
}

/** `?return_to=…` to carry the return target from page to page (or ''). */
export function returnToQuery(returnTo: string | null): string {
  return returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : '';
}

/**
 * Finishes any sign-in: a second factor to give goes to /mfa (the challenge in the history state,
 * never in the URL); a session goes back to `return_to` when allowed, else to the account center.
 */
export function useCompleteSignIn(): (reply: SignInReply) => void {
  const navigate = useNavigate();
  const session = useSession();
  const returnTo = useReturnTo();
  return (reply) => {
    if ('mfa_required' in reply) {
      navigate(`/mfa${returnToQuery(returnTo)}`, { state: { challenge: reply } });
      return;
    }
    session.signedIn(reply.user);
    const target = returnTo ?? '/account';
    if (isExternal(target)) window.location.assign(target);
    else navigate(target, { replace: true });
  };
}

import type { ClientInfo } from '../platform/http/client.js';
import { accountErrors, type IssuedTokens, type SignInResult, type SignInService, type UserDirectory, type UserRow } from '../modules/accounts/index.js';
import type { MfaService, SecondFactorInput } from '../modules/mfa/index.js';
import { passkeyAmr, type CredentialResponse, type PasskeyService } from '../modules/passkeys/index.js';

/**
 * Every way to sign in, end to end, in one place:
 *
 *   first factor (accounts: password or magic link; passkeys: an assertion)
 *     → second factor when the account has one (mfa: challenge, then verify or recovery)
 *     → session and tokens (accounts: `complete`; the session service adds the `mfa_enroll` claim
 *       from the MFA enrolment check and the organization claims from the membership look-up it
 *       was built with in context.ts)
 *
 * The routes of accounts, MFA and passkeys are given this flow; no module calls into another to
 * finish a sign-in.
 */
export interface SignInFlow {
  password(input: { email: string; password: string }, client: ClientInfo): Promise<SignInResult>;
  magicLink(token: string, client: ClientInfo): Promise<SignInResult>;
  passkey(challengeId: string, response: CredentialResponse, client: ClientInfo): Promise<SignInResult>;
  secondFactor(mfaToken: string, factor: SecondFactorInput, client: ClientInfo): Promise<IssuedTokens>;
  recovery(token: string, password: string, client: ClientInfo): Promise<IssuedTokens>;
}

export function createSignInFlow(deps: {
  steps: SignInService;
  mfa: Pick<MfaService, 'challenge' | 'verify' | 'completeRecovery'>;
  passkeys: Pick<PasskeyService, 'verifyAuthentication'>;
  users: Pick<UserDirectory, 'byId'>;
}): SignInFlow {
  const { steps, mfa, passkeys, users } = deps;

  /** After a first factor: the MFA challenge when one is due, else the session. */
  async function afterFirstFactor(user: UserRow, amr: string[], client: ClientInfo, action: string, password?: string): Promise<SignInResult> {
    const challenge = await mfa.challenge(user, client, amr);
    if (!challenge) return steps.complete(user, amr, client, action, password === undefined ? {} : { password });
    await steps.firstFactorOnly(user, amr, client);
    return challenge;
  }

  return {
    async password(input, client) {
      const user = await steps.password(input, client);
      return afterFirstFactor(user, ['pwd'], client, 'auth.login', input.password);
    },

    async magicLink(token, client) {
      const user = await steps.magicLink(token, client);
      return afterFirstFactor(user, ['email'], client, 'auth.login_magic_link');
    },

    async passkey(challengeId, response, client) {
      const assertion = await passkeys.verifyAuthentication(challengeId, response, client);
      const user = await users.byId(assertion.userId);
      if (!user) throw accountErrors.invalid_credentials('The account no longer exists');
      // With user verification the passkey is two factors; without, one, and a second factor the
      // account has is still asked for (the same gate as a password sign-in).
      const amr = passkeyAmr(assertion.userVerified);
      return assertion.userVerified ? steps.complete(user, amr, client, 'auth.login_passkey') : afterFirstFactor(user, amr, client, 'auth.login_passkey');
    },

    async secondFactor(mfaToken, factor, client) {
      const { user, amr } = await mfa.verify(mfaToken, factor, client);
      return steps.complete(user, amr, client, 'auth.login_mfa');
    },

    async recovery(token, password, client) {
      const { user, amr } = await mfa.completeRecovery(token, password, client);
      return steps.complete(user, amr, client, 'auth.login_recovery');
    },
  };
}

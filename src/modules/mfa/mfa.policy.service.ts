import type { Database } from '../../platform/db/database.js';
import type { UserDirectory, UserRow } from '../accounts/index.js';
import { findTotp } from './mfa.queries.js';

/** MFA_REQUIRED: who must have a second factor. */
export type MfaRequirement = 'off' | 'all' | 'admins';

/**
 * The second-factor policy, apart from the MFA service so that what it needs nothing else of (the
 * sessions' enrolment claim, the passkeys' removal rule) can be built before the services that use it.
 */
export interface MfaPolicy {
  /** Whether MFA_REQUIRED holds this user to a second factor (everyone, or platform administrators). */
  requires(userId: string): Promise<boolean>;
  /**
   * Whether the user's last passkey must stay: the policy requires a second factor and no
   * authenticator app is enrolled (the passkeys module refuses to remove it, like TOTP's removal).
   */
  lastPasskeyRequired(userId: string): Promise<boolean>;
}

/** The check behind the `mfa_enroll` claim of access tokens and the guard's `mfa_enrollment_required`. */
export interface EnrolmentCheck {
  /** Whether the user must enrol a second factor before anything else: the policy, or the duty left by a recovery. */
  required(user: UserRow): Promise<boolean>;
}

export function createMfaPolicy(deps: { db: Database; requirement: MfaRequirement; isPlatformAdmin(userId: string): Promise<boolean> }): MfaPolicy {
  const { db, requirement } = deps;
  const policy: MfaPolicy = {
    async requires(userId) {
      return requirement === 'all' || (requirement === 'admins' && (await deps.isPlatformAdmin(userId)));
    },
    async lastPasskeyRequired(userId) {
      if (!(await policy.requires(userId))) return false;
      return !(await findTotp(db, userId))?.confirmedAt;
    },
  };
  return policy;
}

export function createEnrolmentCheck(deps: {
  db: Database;
  policy: MfaPolicy;
  passkeys: { countFor(userId: string): Promise<number> };
  users: Pick<UserDirectory, 'setMfaReenrollRequired'>;
}): EnrolmentCheck {
  const { db, policy, passkeys, users } = deps;
  return {
    async required(user) {
      // With MFA_REQUIRED=off and no recovery pending (the common case): no query at all.
      if (!user.mfaReenrollRequired && !(await policy.requires(user.id))) return false;
      const [totp, passkeyCount] = await Promise.all([findTotp(db, user.id), passkeys.countFor(user.id)]);
      const enrolled = Boolean(totp?.confirmedAt) || passkeyCount > 0;
      // A recovered account that enrolled again is done with its recovery.
      if (enrolled && user.mfaReenrollRequired) await users.setMfaReenrollRequired(user.id, false);
      return !enrolled;
    },
  };
}

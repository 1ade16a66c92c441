import type { ClientInfo } from '../../platform/http/client.js';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  type VerifiedAuthenticationResponse,
  type VerifiedRegistrationResponse,
} from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit, AuditEntry, Events } from '../../platform/events/index.js';
import { newId } from '../../platform/crypto/ids.js';
import { randomToken } from '../../platform/crypto/tokens.js';
import { deviceName, type UserDirectory, type UserRow } from '../accounts/index.js';
import { passkeyErrors } from './passkeys.errors.js';
import {
  countPasskeys, deletePasskey, findPasskeyByCredentialId, findUserPasskey, insertPasskey, listPasskeys, lockUserPasskeys, recordPasskeyUse, renamePasskey,
} from './passkeys.queries.js';
import type { PasskeyRow } from './passkeys.schema.js';

export interface PasskeySettings {
  /** The relying-party id: the host name of PUBLIC_URL. */
  rpId: string;
  rpName: string;
  /** Origins whose pages may create and use passkeys (PUBLIC_URL's and WEBAUTHN_EXTRA_ORIGINS). */
  origins: string[];
}

/** A verified assertion: whose passkey it was, and whether the authenticator verified the user. */
export interface PasskeyAssertion {
  userId: string;
  passkeyId: string;
  /** The authenticator checked a PIN or biometric: possession and knowledge/inherence together. */
  userVerified: boolean;
}

/**
 * A WebAuthn credential response as it arrived in a request body. It is checked by
 * @simplewebauthn/server: anything malformed is refused like a bad signature.
 */
export type CredentialResponse = Record<string, unknown>;

export interface PasskeyService {
  /** Options for `navigator.credentials.create`; the challenge waits 5 minutes for `register`, usable once. */
  registrationOptions(user: UserRow): Promise<PublicKeyCredentialCreationOptionsJSON>;
  /** Verifies a registration against the user's pending challenge and stores the passkey. */
  register(user: UserRow, response: CredentialResponse, name: string | undefined, client: ClientInfo): Promise<PasskeyRow>;
  list(userId: string): Promise<PasskeyRow[]>;
  rename(userId: string, id: string, name: string, client?: ClientInfo): Promise<PasskeyRow>;
  /**
   * Removes one of the user's passkeys. Refused (409 mfa_required_by_policy) for the last one when
   * MFA_REQUIRED holds the user to a second factor and no authenticator app is enrolled.
   */
  remove(userId: string, id: string, client: ClientInfo): Promise<void>;
  /** Removes every passkey of the user, whatever the policy (an MFA recovery, which then requires a new enrolment); returns how many. */
  removeAll(userId: string, client: ClientInfo): Promise<number>;
  /**
   * Options for `navigator.credentials.get` and the id of their challenge (5 minutes, usable once).
   * With `userId` (a user who passed a first factor): that user's passkeys as `allowCredentials`,
   * and only they will pass. Otherwise no `allowCredentials` (discoverable credentials: the
   * authenticator offers the site's passkeys); with `email` only a passkey of that address's account
   * will pass, and the options look the same for every address, known or not.
   */
  authenticationOptions(input?: { userId?: string | null; email?: string | null }): Promise<{ options: PublicKeyCredentialRequestOptionsJSON; challengeId: string }>;
  /** Consumes the challenge and verifies the assertion; throws 400 challenge_invalid or 401 passkey_verification_failed. */
  verifyAuthentication(challengeId: string, response: CredentialResponse, client: ClientInfo, options?: { expectedUserId?: string | null }): Promise<PasskeyAssertion>;
  countFor(userId: string): Promise<number>;
}

/**
 * The amr of a passkey sign-in: with user verification (PIN, biometric) it is something you have
 * plus something you know or are, two factors; without it, possession only.
 */
export function passkeyAmr(userVerified: boolean): string[] {
  return userVerified ? ['hwk', 'user', 'mfa'] : ['hwk'];
}

const CHALLENGE_TTL_SECONDS = 300;
const registrationKey = (userId: string) => `passkey:registration:${userId}`;
const authenticationKey = (challengeId: string) => `passkey:authentication:${challengeId}`;

interface PendingAuthentication {
  challenge: string;
  /** Only this user's passkeys pass; null: any (discoverable). */
  userId: string | null;
}

/** The user handle of a passkey: the bytes of the user id (never the email, which can change). */
function userHandle(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId, 'utf8'));
}

function looksLikeCredential(response: CredentialResponse): boolean {
  return typeof response.id === 'string' && typeof response.rawId === 'string' && typeof response.response === 'object' && response.response !== null;
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}

/** simplewebauthn's refusal of a signature counter that did not move forward (a cloned authenticator?). */
function isCounterRegression(error: unknown): boolean {
  return error instanceof Error && /counter value \d+ was lower than expected/i.test(error.message);
}

export function createPasskeyService(deps: {
  db: Database;
  cache: Cache;
  audit: Audit;
  events: Events;
  users: Pick<UserDirectory, 'byEmail'>;
  /** The second-factor policy: whether the user's last passkey must stay (MFA_REQUIRED and no other factor). */
  policy: { lastPasskeyRequired(userId: string): Promise<boolean> };
  settings: PasskeySettings;
}): PasskeyService {
  const { db, cache, audit, events, settings } = deps;

  function entry(base: Omit<AuditEntry, 'context'>, client: ClientInfo): AuditEntry {
    return { ...base, context: client };
  }

  async function recordFailure(base: Omit<AuditEntry, 'context' | 'result'>, client: ClientInfo): Promise<void> {
    await db.transaction((tx) => audit.record(tx, entry({ ...base, result: 'failure' }, client)));
  }

  async function ownedPasskey(userId: string, id: string): Promise<PasskeyRow> {
    const row = await findUserPasskey(db, userId, id);
    if (!row) throw passkeyErrors.passkey_not_found();
    return row;
  }

  function defaultName(client: ClientInfo): string {
    const device = deviceName(client.userAgent);
    return device === 'Unknown device' ? 'Passkey' : `Passkey on ${device}`.slice(0, 100);
  }

  return {
    async registrationOptions(user) {
      const existing = await listPasskeys(db, user.id);
      const options = await generateRegistrationOptions({
        rpName: settings.rpName,
        rpID: settings.rpId,
        userName: user.email,
        userDisplayName: user.name ?? user.email,
        userID: userHandle(user.id),
        timeout: CHALLENGE_TTL_SECONDS * 1000,
        attestationType: 'none',
        excludeCredentials: existing.map((row) => ({ id: row.credentialId, transports: row.transports })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
      });
      // One pending registration per user: new options replace the previous challenge.
      await cache.set(registrationKey(user.id), options.challenge, { ttlSeconds: CHALLENGE_TTL_SECONDS });
      return options;
    },

    async register(user, response, name, client) {
      const challenge = await cache.take(registrationKey(user.id));
      if (!challenge) throw passkeyErrors.challenge_invalid('No pending passkey registration: request POST /v1/me/passkeys/options first (valid 5 minutes, usable once)');
      const actor = { type: 'user' as const, id: user.id, display: user.email };
      let verification: VerifiedRegistrationResponse;
      try {
        if (!looksLikeCredential(response)) throw new Error('The response is not a WebAuthn registration response');
        verification = await verifyRegistrationResponse({
          response: response as unknown as RegistrationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: settings.origins,
          expectedRPID: settings.rpId,
          // Preferred, not required: whether the user was verified is recorded at each sign-in.
          requireUserVerification: false,
        });
        if (!verification.verified) throw new Error('The registration response did not verify');
      } catch (error) {
        await recordFailure({ actor, action: 'passkey.added', target: { type: 'user', id: user.id }, reason: message(error) }, client);
        throw passkeyErrors.passkey_registration_failed(`The passkey could not be verified: ${message(error)}`);
      }
      const info = verification.registrationInfo;
      const credentialId = info.credential.id;
      if (await findPasskeyByCredentialId(db, credentialId)) throw passkeyErrors.passkey_already_registered();
      const label = name?.trim() || defaultName(client);
      return db.transaction(async (tx) => {
        const row = await insertPasskey(tx, {
          id: newId('pky'),
          userId: user.id,
          credentialId,
          publicKey: isoBase64URL.fromBuffer(info.credential.publicKey),
          counter: info.credential.counter,
          transports: info.credential.transports ?? [],
          aaguid: info.aaguid,
          deviceType: info.credentialDeviceType,
          backedUp: info.credentialBackedUp,
          name: label,
        });
        await audit.record(tx, entry({ actor, action: 'passkey.added', target: { type: 'passkey', id: row.id } }, client));
        await events.publish(tx, { type: 'passkey.added', data: { id: row.id, user_id: user.id, name: row.name, device_type: row.deviceType, backed_up: row.backedUp } });
        return row;
      });
    },

    list: (userId) => listPasskeys(db, userId),

    async rename(userId, id, name, client) {
      const label = name.trim();
      if (!label) throw passkeyErrors.invalid_passkey_name('The name must not be blank');
      const before = await ownedPasskey(userId, id);
      if (before.name === label) return before;
      return db.transaction(async (tx) => {
        const after = await renamePasskey(tx, userId, id, label);
        if (!after) throw passkeyErrors.passkey_not_found();
        await audit.record(tx, entry({
          actor: { type: 'user', id: userId },
          action: 'passkey.renamed',
          target: { type: 'passkey', id },
          changes: { name: { before: before.name, after: label } },
        }, client ?? { ip: null, userAgent: null }));
        return after;
      });
    },

    async remove(userId, id, client) {
      // Asked before the transaction (it reads through `db`); the count is checked inside, under the lock.
      const lastRequired = await deps.policy.lastPasskeyRequired(userId);
      await db.transaction(async (tx) => {
        await lockUserPasskeys(tx, userId);
        const row = await deletePasskey(tx, userId, id);
        if (!row) throw passkeyErrors.passkey_not_found();
        if (lastRequired && (await countPasskeys(tx, userId)) === 0) {
          throw passkeyErrors.mfa_required_by_policy('A second factor is required for this account: add another passkey or an authenticator app before removing the last passkey');
        }
        await audit.record(tx, entry({ actor: { type: 'user', id: userId }, action: 'passkey.removed', target: { type: 'passkey', id } }, client));
        await events.publish(tx, { type: 'passkey.removed', data: { id, user_id: userId, name: row.name } });
      });
    },

    async removeAll(userId, client) {
      return db.transaction(async (tx) => {
        const rows = await listPasskeys(tx, userId);
        for (const row of rows) {
          await deletePasskey(tx, userId, row.id);
          await audit.record(tx, entry({ actor: { type: 'user', id: userId }, action: 'passkey.removed', target: { type: 'passkey', id: row.id } }, client));
          await events.publish(tx, { type: 'passkey.removed', data: { id: row.id, user_id: userId, name: row.name } });
        }
        return rows.length;
      });
    },

    async authenticationOptions(input = {}) {
      let userId = input.userId ?? null;
      // After a first factor: the user's own passkeys. Before one, nothing that depends on the address.
      const allowed = userId ? await listPasskeys(db, userId) : [];
      if (!userId && input.email) {
        // An unknown address binds the challenge to an id no account has: the same answer, and no passkey will pass with it.
        userId = (await deps.users.byEmail(input.email.trim()))?.id ?? newId('usr');
      }
      const options = await generateAuthenticationOptions({
        rpID: settings.rpId,
        ...(allowed.length > 0 ? { allowCredentials: allowed.map((row) => ({ id: row.credentialId, transports: row.transports })) } : {}),
        userVerification: 'preferred',
        timeout: CHALLENGE_TTL_SECONDS * 1000,
      });
      const challengeId = randomToken(24);
      const pending: PendingAuthentication = { challenge: options.challenge, userId };
      await cache.set(authenticationKey(challengeId), JSON.stringify(pending), { ttlSeconds: CHALLENGE_TTL_SECONDS });
      return { options, challengeId };
    },

    async verifyAuthentication(challengeId, response, client, options = {}) {
      const raw = await cache.take(authenticationKey(challengeId));
      if (!raw) throw passkeyErrors.challenge_invalid('Unknown, expired or already used challenge_id: request new options');
      const pending = JSON.parse(raw) as PendingAuthentication;
      const refused = () => passkeyErrors.passkey_verification_failed();
      const credentialId = typeof response.id === 'string' ? response.id : null;
      const row = credentialId && looksLikeCredential(response) ? await findPasskeyByCredentialId(db, credentialId) : null;
      if (!row) {
        await recordFailure({ actor: { type: 'user', id: options.expectedUserId ?? pending.userId }, action: 'passkey.authenticate', reason: 'unknown credential' }, client);
        throw refused();
      }
      const actor = { type: 'user' as const, id: row.userId };
      const target = { type: 'passkey', id: row.id };
      const expectedUsers = [pending.userId, options.expectedUserId ?? null].filter((id): id is string => id !== null);
      // A discoverable credential names its user: it must be the passkey's owner.
      const handle = (response.response as { userHandle?: unknown }).userHandle;
      const handleMismatch = typeof handle === 'string' && handle !== '' && handle !== isoBase64URL.fromBuffer(userHandle(row.userId));
      if (expectedUsers.some((id) => id !== row.userId) || handleMismatch) {
        await recordFailure({ actor, action: 'passkey.authenticate', target, reason: handleMismatch ? 'user handle mismatch' : 'passkey of another user' }, client);
        throw refused();
      }
      let verification: VerifiedAuthenticationResponse;
      try {
        verification = await verifyAuthenticationResponse({
          response: response as unknown as AuthenticationResponseJSON,
          expectedChallenge: pending.challenge,
          expectedOrigin: settings.origins,
          expectedRPID: settings.rpId,
          credential: { id: row.credentialId, publicKey: isoBase64URL.toBuffer(row.publicKey), counter: row.counter, transports: row.transports },
          requireUserVerification: false,
        });
      } catch (error) {
        if (isCounterRegression(error)) {
          await recordFailure({ actor, action: 'passkey.counter_regression', target, reason: message(error) }, client);
          throw passkeyErrors.passkey_verification_failed('The passkey signature counter went backwards: the authenticator may have been cloned');
        }
        await recordFailure({ actor, action: 'passkey.authenticate', target, reason: message(error) }, client);
        throw refused();
      }
      if (!verification.verified) {
        await recordFailure({ actor, action: 'passkey.authenticate', target, reason: 'signature did not verify' }, client);
        throw refused();
      }
      const info = verification.authenticationInfo;
      if (!(await recordPasskeyUse(db, row.id, { newCounter: info.newCounter, backedUp: info.credentialBackedUp }))) {
        // Another assertion moved the counter past this one in the meantime.
        await recordFailure({ actor, action: 'passkey.counter_regression', target, reason: `counter ${info.newCounter} already passed` }, client);
        throw passkeyErrors.passkey_verification_failed('The passkey signature counter went backwards: the authenticator may have been cloned');
      }
      return { userId: row.userId, passkeyId: row.id, userVerified: info.userVerified };
    },

    countFor: (userId) => countPasskeys(db, userId),
  };
}

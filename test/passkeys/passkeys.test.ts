import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, createTestApp, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';
import { authenticator } from '../helpers/authenticator.js';
import { engineCases } from '../helpers/db.js';
import { uniqueEmail } from '../helpers/outbox.js';
import { newId } from '../../src/platform/crypto/ids.js';
import { expectProblem } from '../helpers/http.js';

/*
 * Passkey endpoints in process (PGlite). Creating a real credential needs an authenticator: the
 * successful ceremonies run in a real browser (test/e2e/passkeys.browser.test.ts). Here: the shape of
 * the options, every refusal that needs no valid signature, and the management of stored passkeys
 * (rows written directly).
 */

interface CreationOptionsBody {
  rp: { id: string; name: string };
  user: { id: string; name: string; displayName: string };
  challenge: string;
  attestation: string;
  authenticatorSelection: Record<string, unknown>;
  excludeCredentials: { id: string; type: string; transports?: string[] }[];
}

describe('passkeys (in process)', () => {
  let app: TestApp;
  const api = testClient(() => app);
  const { call, signedIn } = api;
  /** A stored passkey row, as a completed registration would leave it. */
  const storedPasskey = (userId: string, name?: string) => insertPasskeyRow(app, userId, name);

  const auditRows = (action: string, actorId: string) =>
    api.query<{ result: string; target_id: string | null; reason: string | null }>('SELECT result, target_id, reason FROM audit_events WHERE action = $1 AND actor_id = $2 ORDER BY created_at, id', [action, actorId]);

  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(async () => app?.destroy());

  describe('registration', () => {
    it('options name the relying party localhost, carry a challenge and the user handle, and exclude the passkeys already there', async () => {
      const { user, token } = await signedIn('options');
      const res = await call('POST', '/v1/me/passkeys/options', token);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const options = res.json<CreationOptionsBody>();
      expect(options.rp).toEqual({ id: 'localhost', name: 'Tessera' });
      expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{32,}$/);
      expect(options.user).toMatchObject({ id: Buffer.from(user.id).toString('base64url'), name: user.email });
      expect(options.attestation).toBe('none');
      expect(options.authenticatorSelection).toMatchObject({ residentKey: 'preferred', userVerification: 'preferred' });
      expect(options.excludeCredentials).toEqual([]);

      const { credentialId } = await storedPasskey(user.id);
      const again = (await call('POST', '/v1/me/passkeys/options', token)).json<CreationOptionsBody>();
      expect(again.excludeCredentials).toEqual([{ id: credentialId, type: 'public-key', transports: ['internal'] }]);
      expect(again.challenge).not.toBe(options.challenge);
    });

    it('registering without pending options is 400 challenge_invalid', async () => {
      const { token } = await signedIn('nochallenge');
      const res = await call('POST', '/v1/me/passkeys', token, { response: { id: 'abc', rawId: 'abc', type: 'public-key', response: {} } });
      expectProblem(res, 400, 'challenge_invalid');
    });

    it('a garbage response is 400 passkey_verification_failed, audited, and uses up the challenge', async () => {
      const { user, token } = await signedIn('garbage');
      expect((await call('POST', '/v1/me/passkeys/options', token)).statusCode).toBe(200);
      const garbage = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'bm90IGpzb24', attestationObject: 'AAAA' }, clientExtensionResults: {} };
      expectProblem(await call('POST', '/v1/me/passkeys', token, { response: garbage }), 400, 'passkey_registration_failed');
      expect(await auditRows('passkey.added', user.id)).toEqual([expect.objectContaining({ result: 'failure' })]);
      // The challenge went with the failed attempt.
      expectProblem(await call('POST', '/v1/me/passkeys', token, { response: garbage }), 400, 'challenge_invalid');
      expect((await call('GET', '/v1/me/passkeys', token)).json()).toEqual({ data: [], next_cursor: null });
    });

    it('a body that is not an object is refused by the schema', async () => {
      const { token } = await signedIn('schema');
      expectProblem(await call('POST', '/v1/me/passkeys', token, { response: 'nope' }), 400, 'validation_failed');
      expectProblem(await call('POST', '/v1/me/passkeys', token, {}), 400, 'validation_failed');
    });

    it('every /v1/me/passkeys route needs a signed-in user', async () => {
      for (const [method, url] of [
        ['POST', '/v1/me/passkeys/options'],
        ['POST', '/v1/me/passkeys'],
        ['GET', '/v1/me/passkeys'],
        ['PATCH', `/v1/me/passkeys/${newId('pky')}`],
        ['DELETE', `/v1/me/passkeys/${newId('pky')}`],
      ] as const) {
        expect((await call(method, url, null, method === 'GET' || method === 'DELETE' ? undefined : {})).statusCode, `${method} ${url}`).toBe(401);
      }
    });
  });

  describe('management', () => {
    it('lists nothing for a new account', async () => {
      const { token } = await signedIn('empty');
      const res = await call('GET', '/v1/me/passkeys', token);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ data: [], next_cursor: null });
    });

    it('lists, renames and removes my passkeys, never showing the public key', async () => {
      const { user, token } = await signedIn('manage');
      const { id } = await storedPasskey(user.id, 'Laptop');
      const listed = (await call('GET', '/v1/me/passkeys', token)).json<{ data: Record<string, unknown>[] }>().data;
      expect(listed).toEqual([
        {
          id,
          name: 'Laptop',
          created_at: expect.any(String),
          last_used_at: null,
          device_type: 'singleDevice',
          backed_up: false,
          transports: ['internal'],
          aaguid: '00000000-0000-0000-0000-000000000000',
        },
      ]);

      const renamed = await call('PATCH', `/v1/me/passkeys/${id}`, token, { name: '  Work laptop ' });
      expect(renamed.statusCode, renamed.body).toBe(200);
      expect(renamed.json()).toMatchObject({ id, name: 'Work laptop' });
      expectProblem(await call('PATCH', `/v1/me/passkeys/${id}`, token, { name: '   ' }), 422, 'invalid_passkey_name');

      // Signed in just now: the removal needs no step-up.
      expect((await call('DELETE', `/v1/me/passkeys/${id}`, token)).statusCode).toBe(204);
      expect((await call('GET', '/v1/me/passkeys', token)).json()).toEqual({ data: [], next_cursor: null });
      expect(await auditRows('passkey.removed', user.id)).toEqual([expect.objectContaining({ result: 'success', target_id: id })]);
      const events = await app.context.db.sql.query<{ payload: Record<string, unknown> }>(`SELECT payload FROM events WHERE type = 'passkey.removed'`);
      expect(events.rows.map((row) => row.payload)).toContainEqual(expect.objectContaining({ id, user_id: user.id }));
    });

    it('an unknown id, or someone else\'s, is 404 passkey_not_found for PATCH and DELETE', async () => {
      const owner = await signedIn('owner');
      const other = await signedIn('other');
      const { id } = await storedPasskey(owner.user.id);
      for (const target of [newId('pky'), id]) {
        expectProblem(await call('PATCH', `/v1/me/passkeys/${target}`, other.token, { name: 'Mine now' }), 404, 'passkey_not_found');
        expectProblem(await call('DELETE', `/v1/me/passkeys/${target}`, other.token), 404, 'passkey_not_found');
      }
      expect((await call('GET', '/v1/me/passkeys', owner.token)).json<{ data: { name: string }[] }>().data.map((p) => p.name)).toEqual(['Test key']);
    });

    it('removing a passkey without a recent sign-in is 403 reauthentication_required', async () => {
      const { user, token, sessionId } = await signedIn('stale');
      const { id } = await storedPasskey(user.id);
      await app.context.db.sql.query(`UPDATE sessions SET reauthenticated_at = now() - interval '10 minutes' WHERE id = $1`, [sessionId]);
      expectProblem(await call('DELETE', `/v1/me/passkeys/${id}`, token), 403, 'reauthentication_required');
      expect((await call('GET', '/v1/me/passkeys', token)).json<{ data: unknown[] }>().data).toHaveLength(1);
    });
  });

  describe('passwordless sign-in', () => {
    it('regression (enumeration): options are the same for an unknown address, an account without passkeys and one with passkeys: no allowCredentials', async () => {
      const { email: without } = await signedIn('known');
      const { email: withKeys, user } = await signedIn('withkeys');
      await storedPasskey(user.id);
      const replies = [
        await call('POST', '/v1/auth/passkey/options', null, { email: uniqueEmail('nobody') }),
        await call('POST', '/v1/auth/passkey/options', null, { email: without }),
        await call('POST', '/v1/auth/passkey/options', null, { email: withKeys.toUpperCase() }),
        await call('POST', '/v1/auth/passkey/options', null, {}),
      ];
      const bodies = replies.map((res) => {
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        return res.json<{ options: Record<string, unknown>; challenge_id: string }>();
      });
      for (const body of bodies) {
        expect(Object.keys(body).sort()).toEqual(['challenge_id', 'options']);
        expect(body.options).toEqual({ rpId: 'localhost', challenge: expect.any(String), timeout: 300_000, userVerification: 'preferred' });
        expect(body.challenge_id).toMatch(/^[A-Za-z0-9_-]{32}$/);
      }
      // What differs is random, never the account.
      expect(new Set(bodies.map((body) => body.options.challenge)).size).toBe(bodies.length);
    });

    it('verify with an unknown challenge_id is 400 challenge_invalid', async () => {
      const res = await call('POST', '/v1/auth/passkey/verify', null, {
        challenge_id: randomBytes(24).toString('base64url'),
        response: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: {} },
      });
      expectProblem(res, 400, 'challenge_invalid');
    });

    it('an unknown credential is 401 passkey_verification_failed, and its challenge cannot be tried again', async () => {
      const { challenge_id } = (await call('POST', '/v1/auth/passkey/options', null, {})).json<{ challenge_id: string }>();
      const response = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' }, clientExtensionResults: {} };
      expectProblem(await call('POST', '/v1/auth/passkey/verify', null, { challenge_id, response }), 401, 'passkey_verification_failed');
      expectProblem(await call('POST', '/v1/auth/passkey/verify', null, { challenge_id, response }), 400, 'challenge_invalid');
    });

    it('a stored passkey with a bad signature is 401 and audited', async () => {
      const { user } = await signedIn('badsig');
      const { id, credentialId } = await storedPasskey(user.id);
      const { challenge_id } = (await call('POST', '/v1/auth/passkey/options', null, {})).json<{ challenge_id: string }>();
      const response = { id: credentialId, rawId: credentialId, type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' }, clientExtensionResults: {} };
      expectProblem(await call('POST', '/v1/auth/passkey/verify', null, { challenge_id, response }), 401, 'passkey_verification_failed');
      expect(await auditRows('passkey.authenticate', user.id)).toEqual([expect.objectContaining({ result: 'failure', target_id: id })]);
    });

    it('a passkey of another account than the one named by email is refused before any signature check', async () => {
      const owner = await signedIn('keyowner');
      const other = await signedIn('named');
      const { credentialId } = await storedPasskey(owner.user.id);
      const { challenge_id } = (await call('POST', '/v1/auth/passkey/options', null, { email: other.email })).json<{ challenge_id: string }>();
      const response = { id: credentialId, rawId: credentialId, type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' }, clientExtensionResults: {} };
      expectProblem(await call('POST', '/v1/auth/passkey/verify', null, { challenge_id, response }), 401, 'passkey_verification_failed');
      expect(await auditRows('passkey.authenticate', owner.user.id)).toEqual([expect.objectContaining({ result: 'failure', reason: 'passkey of another user' })]);
    });
  });
});

/** Inserts a passkey row for the user, as a completed registration would leave it. */
async function insertPasskeyRow(app: TestApp, userId: string, name = 'Test key'): Promise<{ id: string; credentialId: string }> {
  const id = newId('pky');
  const credentialId = randomBytes(16).toString('base64url');
  await app.context.db.sql.query(
    `INSERT INTO passkeys (id, user_id, credential_id, public_key, counter, transports, aaguid, device_type, backed_up, name)
     VALUES ($1, $2, $3, $4, 0, '["internal"]'::jsonb, '00000000-0000-0000-0000-000000000000', 'singleDevice', false, $5)`,
    [id, userId, credentialId, randomBytes(77).toString('base64url'), name],
  );
  return { id, credentialId };
}

describe.each(engineCases())('the last passkey under MFA_REQUIRED=all on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const { call } = api;
    const remaining = async (userId: string) =>
      (await app.context.db.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM passkeys WHERE user_id = $1', [userId])).rows[0]!.n;

    /** An account with `count` passkeys (its only second factor) and a fresh session (a recent sign-in, started directly: MFA_REQUIRED would stop a password sign-in). */
    async function withPasskeys(label: string, count: number): Promise<{ userId: string; token: string; ids: string[] }> {
      const { user, token } = await api.seeded(label);
      const ids: string[] = [];
      for (let n = 0; n < count; n++) ids.push((await insertPasskeyRow(app, user.id, `Key ${n + 1}`)).id);
      return { userId: user.id, token, ids };
    }

    beforeAll(async () => {
      app = await createEngineApp(engine, { MFA_REQUIRED: 'all' });
    });
    afterAll(async () => app?.destroy());

    it('regression: the last passkey of an account whose only second factor it is cannot be removed (409 mfa_required_by_policy, as for TOTP); the one before it can', async () => {
      const { userId, token, ids } = await withPasskeys('last-key', 2);
      expect((await call('DELETE', `/v1/me/passkeys/${ids[0]}`, token)).statusCode).toBe(204);
      const refused = expectProblem(await call('DELETE', `/v1/me/passkeys/${ids[1]}`, token), 409, 'mfa_required_by_policy');
      expect(refused.title).toBe('A second factor is required for this account');
      expect(await remaining(userId)).toBe(1);
      const audited = await app.context.db.sql.query<{ target_id: string }>(`SELECT target_id FROM audit_events WHERE action = 'passkey.removed' AND actor_id = $1`, [userId]);
      expect(audited.rows.map((row) => row.target_id)).toEqual([ids[0]]);
    });

    it('of two concurrent removals of the last two passkeys exactly one succeeds, and a passkey remains', async () => {
      const { userId, token, ids } = await withPasskeys('race-keys', 2);
      const results = await Promise.all(ids.map((id) => call('DELETE', `/v1/me/passkeys/${id}`, token)));
      expect(results.map((res) => res.statusCode).sort()).toEqual([204, 409]);
      expect(await remaining(userId)).toBe(1);
    });

    it('with an authenticator app enrolled, the last passkey can be removed', async () => {
      const { userId, token, ids } = await withPasskeys('key-and-app', 1);
      const started = await call('POST', '/v1/me/mfa/totp', token);
      expect(started.statusCode, started.body).toBe(200);
      const device = authenticator(started.json<{ otpauth_uri: string }>().otpauth_uri);
      expect((await call('POST', '/v1/me/mfa/totp/confirm', token, { code: await device.next() })).statusCode).toBe(200);
      expect((await call('DELETE', `/v1/me/passkeys/${ids[0]}`, token)).statusCode).toBe(204);
      expect(await remaining(userId)).toBe(0);
    });
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newId } from '../../src/platform/crypto/ids.js';
import { sha256 } from '../../src/platform/crypto/tokens.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { bearer, expectProblem } from '../helpers/http.js';
import { login, signUp, uniqueEmail } from '../helpers/outbox.js';

/*
 * Abuse of invitations, on each engine (PGlite with the in-process cache, PostgreSQL with Redis):
 * two simultaneous invitations of one address cannot both be created (a partial unique index on open
 * invitations; the loser answers 409 invitation_pending, not a bare conflict).
 */

const PASSWORD = 'correct horse battery staple';
const { redisUrl } = inject('services');

type Method = 'GET' | 'POST';

describe.each(engineCases())('invitation abuse on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    const call = (method: Method, url: string, token: string, payload?: Record<string, unknown>) =>
      app.server.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
    const query = async <T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> => (await app.context.db.sql.query<T>(text, params)).rows;

    /** A new organization and its owner, signed in. */
    async function orgWithOwner(): Promise<{ orgId: string; token: string }> {
      const email = uniqueEmail('owner');
      await signUp(app, email, PASSWORD);
      const token = (await login(app, email, PASSWORD)).access_token;
      const res = await call('POST', '/v1/orgs', token, { name: `Team ${randomBytes(4).toString('hex')}` });
      expect(res.statusCode, res.body).toBe(201);
      return { orgId: res.json<{ id: string }>().id, token };
    }
    const invite = (org: { orgId: string; token: string }, email: string) => call('POST', `/v1/orgs/${org.orgId}/invitations`, org.token, { email, role: 'member' });
    const openInvitations = (orgId: string, email: string) =>
      query<{ id: string; token_hash: string }>('SELECT id, token_hash FROM org_invitations WHERE org_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL AND revoked_at IS NULL', [orgId, email]);
    const eventCount = async (orgId: string, type: string): Promise<number> =>
      (await query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE org_id = $1 AND type = $2', [orgId, type]))[0]!.n;

    beforeAll(async () => {
      app = await createEngineApp(engine, { ALLOW_UNVERIFIED_LOGIN: 'true', TIER_LIMITS: '{"free": {"members": null}}' });
    });
    afterAll(async () => app?.destroy());

    it('two simultaneous invitations of one address to one organization: one is created (201), the other answers 409 invitation_pending, and one invitation stays open', async () => {
      const org = await orgWithOwner();
      // A few addresses at once, two requests each (the second in another case): every pair races.
      const addresses = [uniqueEmail('race-a'), uniqueEmail('race-b'), uniqueEmail('race-c')];
      const answers = await Promise.all(addresses.flatMap((email) => [invite(org, email), invite(org, email.toUpperCase())]));
      for (const [index, email] of addresses.entries()) {
        const pair = answers.slice(index * 2, index * 2 + 2);
        expect(pair.map((res) => res.statusCode).sort(), `${email}: ${pair.map((res) => res.body).join(' | ')}`).toEqual([201, 409]);
        expectProblem(pair.find((res) => res.statusCode === 409)!, 409, 'invitation_pending');
        expect(await openInvitations(org.orgId, email)).toHaveLength(1);
      }
      expect(await eventCount(org.orgId, 'invitation.created')).toBe(addresses.length);
    });

    it('the database refuses a second open invitation of one address in one organization (any case), and not one beside a revoked or accepted one', async () => {
      const { orgId } = await orgWithOwner();
      const email = uniqueEmail('index');
      const insert = (address: string, closed: '' | 'revoked_at' | 'accepted_at' = '') =>
        app.context.db.sql.query(
          `INSERT INTO org_invitations (org_id, id, email, role, token_hash, expires_at${closed ? `, ${closed}` : ''}) VALUES ($1, $2, $3, 'member', $4, now() + interval '1 day'${closed ? ', now()' : ''})`,
          [orgId, newId('inv'), address, sha256(randomBytes(16).toString('hex'))],
        );
      await insert(email);
      const refused = await insert(email.toUpperCase()).then(() => null, (error: unknown) => error);
      expect(refused, 'a second open invitation was stored').toMatchObject({ code: '23505', constraint: 'org_invitations_open_email_key' });
      await insert(email, 'revoked_at');
      await insert(email, 'accepted_at');
      expect(await query('SELECT 1 FROM org_invitations WHERE org_id = $1', [orgId])).toHaveLength(3);
    });

    it('an expired invitation is revoked when the address is invited again (one open invitation per address), and the revocation is recorded', async () => {
      const org = await orgWithOwner();
      const email = uniqueEmail('renewed');
      const first = (await invite(org, email)).json<{ id: string }>();
      await query(`UPDATE org_invitations SET expires_at = now() - interval '1 minute' WHERE org_id = $1 AND id = $2`, [org.orgId, first.id]);
      const second = await invite(org, email);
      expect(second.statusCode, second.body).toBe(201);
      expect((await openInvitations(org.orgId, email)).map((row) => row.id)).toEqual([second.json<{ id: string }>().id]);
      const revoked = await query<{ payload: Record<string, unknown> }>('SELECT payload FROM events WHERE org_id = $1 AND type = $2', [org.orgId, 'invitation.revoked']);
      expect(revoked).toEqual([{ payload: { org_id: org.orgId, invitation_id: first.id, email, role: 'member', reason: 'replaced', replaced_by: second.json<{ id: string }>().id } }]);
      expect(await query('SELECT 1 FROM audit_events WHERE org_id = $1 AND action = $2 AND target_id = $3', [org.orgId, 'invitation.revoked', first.id])).toHaveLength(1);
    });
  });
});

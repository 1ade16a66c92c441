import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { newId } from '../../src/platform/crypto/ids.js';
import { sha256 } from '../../src/platform/crypto/tokens.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { testClient } from '../helpers/client.js';
import { expectProblem } from '../helpers/http.js';
import { drainMail, findMails, uniqueEmail } from '../helpers/outbox.js';

/*
 * Abuse of invitations, on each engine (PGlite with the in-process cache, PostgreSQL with Redis):
 * two simultaneous invitations of one address cannot both be created (a partial unique index on open
 * invitations; the loser answers 409 invitation_pending, not 500), and one organization cannot mail
 * one address more than INVITATION_DAILY_LIMIT invitations a day, resends included (429 with
 * Retry-After), so invitations cannot flood an inbox or use up its mail budget.
 */

const DAILY_LIMIT = 3;
const DAY_SECONDS = 86_400;
const { redisUrl } = inject('services');

describe('INVITATION_DAILY_LIMIT', () => {
  it('defaults to 5 and takes a whole number from 1 to 1000', () => {
    expect(loadConfig({}).orgs.invitationDailyLimit).toBe(5);
    expect(loadConfig({ INVITATION_DAILY_LIMIT: '20' }).orgs.invitationDailyLimit).toBe(20);
    for (const bad of ['0', '-1', '2.5', 'many', '1001']) expect(() => loadConfig({ INVITATION_DAILY_LIMIT: bad }), bad).toThrow(/INVITATION_DAILY_LIMIT/);
  });
});

describe.each(engineCases())('invitation abuse on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    const { call, query, signedIn, createOrg } = testClient(() => app);

    /** A new organization and its owner, signed in. */
    async function orgWithOwner(): Promise<{ orgId: string; token: string }> {
      const owner = await signedIn('owner');
      return { orgId: (await createOrg(owner)).id, token: owner.token };
    }
    const invite = (org: { orgId: string; token: string }, email: string) => call('POST', `/v1/orgs/${org.orgId}/invitations`, org.token, { email, role: 'member' });
    const resend = (org: { orgId: string; token: string }, id: string) => call('POST', `/v1/orgs/${org.orgId}/invitations/${id}/resend`, org.token);
    const revoke = (org: { orgId: string; token: string }, id: string) => call('DELETE', `/v1/orgs/${org.orgId}/invitations/${id}`, org.token);
    const openInvitations = (orgId: string, email: string) =>
      query<{ id: string; token_hash: string }>('SELECT id, token_hash FROM org_invitations WHERE org_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL AND revoked_at IS NULL', [orgId, email]);
    const eventCount = async (orgId: string, type: string): Promise<number> =>
      (await query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE org_id = $1 AND type = $2', [orgId, type]))[0]!.n;

    beforeAll(async () => {
      app = await createEngineApp(engine, { INVITATION_DAILY_LIMIT: String(DAILY_LIMIT), ALLOW_UNVERIFIED_LOGIN: 'true', TIER_LIMITS: '{"free": {"members": null}}' });
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
      // The loser's attempt was not counted against the daily limit: the winner can still be resent up to it.
      const [id] = (await openInvitations(org.orgId, addresses[0]!)).map((row) => row.id);
      for (let sent = 1; sent < DAILY_LIMIT; sent++) expect((await resend(org, id!)).statusCode).toBe(200);
      expectProblem(await resend(org, id!), 429, 'invitation_limit_reached');
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

    it('one organization mails one address at most INVITATION_DAILY_LIMIT invitations a day, resends and re-invitations included: then 429 invitation_limit_reached with Retry-After, nothing written', async () => {
      const org = await orgWithOwner();
      const email = uniqueEmail('limited');
      // 1: the invitation; refusals (pending) do not count.
      const invited = await invite(org, email);
      expect(invited.statusCode, invited.body).toBe(201);
      const firstId = invited.json<{ id: string }>().id;
      expectProblem(await invite(org, email.toUpperCase()), 409, 'invitation_pending');
      // 2: a resend; 3: a new invitation after a revocation.
      expect((await resend(org, firstId)).statusCode).toBe(200);
      expect((await revoke(org, firstId)).statusCode).toBe(204);
      const again = await invite(org, email.toUpperCase());
      expect(again.statusCode, again.body).toBe(201);
      const secondId = again.json<{ id: string }>().id;

      // 4: refused, whether a resend or (after another revocation) an invitation.
      for (const attempt of [() => resend(org, secondId), async () => (await revoke(org, secondId), invite(org, email))]) {
        const res = await attempt();
        const body = expectProblem(res, 429, 'invitation_limit_reached');
        const retryAfter = Number(res.headers['retry-after']);
        expect(retryAfter).toBeGreaterThan(DAY_SECONDS - 600);
        expect(retryAfter).toBeLessThanOrEqual(DAY_SECONDS);
        expect(body).toMatchObject({ limit: DAILY_LIMIT, retry_after: retryAfter });
      }
      // Nothing was written by the refused attempts: no new invitation, no second resend.
      expect(await openInvitations(org.orgId, email)).toEqual([]);
      expect(await eventCount(org.orgId, 'invitation.created')).toBe(2);
      expect(await eventCount(org.orgId, 'invitation.resent')).toBe(1);

      // Per organization and address: another address, and another organization, are not held back.
      expect((await invite(org, uniqueEmail('other'))).statusCode).toBe(201);
      const elsewhere = await orgWithOwner();
      expect((await invite(elsewhere, email)).statusCode).toBe(201);

      // Exactly the counted mails went out: three from the first organization, one from the second.
      await drainMail(app, 20_000);
      expect(await findMails(app, { to: email, template: 'orgs.invitation' })).toHaveLength(DAILY_LIMIT + 1);
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { PASSWORD, testClient, type Signed } from '../helpers/client.js';
import { signUp, uniqueEmail, waitForMail } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';

/*
 * Organization tiers on PGlite: the limits of GET /v1/orgs/{org_id}, the `members` limit on invitations
 * and acceptances (403 tier_limit_reached naming it), and platform admins changing the tier.
 */

const CLIENT = { ip: null, userAgent: null };

describe('organization tiers', () => {
  let app: TestApp;
  let adminToken: string;
  const api = testClient(() => app);
  const { call, query, signedIn } = api;

  /** An organization with its owner and `members - 1` more members. */
  async function orgWith(members: number): Promise<{ orgId: string; owner: Signed }> {
    const owner = await signedIn('owner');
    const orgId = (await api.createOrg(owner, { name: 'Tiered' })).id;
    for (let i = 1; i < members; i++) await api.joined(orgId, 'member');
    return { orgId, owner };
  }

  const invite = (orgId: string, token: string, email: string) => call('POST', `/v1/orgs/${orgId}/invitations`, token, { email, role: 'member' });
  async function invitationToken(email: string): Promise<string> {
    const mail = await waitForMail(app, { to: email, template: 'orgs.invitation' });
    return decodeURIComponent(/invitations\/accept\?token=([^\s"<>&]+)/.exec(mail.text)![1]!);
  }
  const setTier = (orgId: string, token: string | null, tier: string) => call('PATCH', `/v1/admin/orgs/${orgId}`, token, { tier });

  beforeAll(async () => {
    app = await createTestApp();
    adminToken = (await api.platformAdmin()).token;
  });
  afterAll(async () => app?.destroy());

  it('new organizations are on free, and GET /v1/orgs/{org_id} shows the limits of their tier', async () => {
    const { orgId, owner } = await orgWith(1);
    const res = await call('GET', `/v1/orgs/${orgId}`, owner.token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: orgId, tier: 'free', limits: { members: 5, api_keys: 2, webhooks: 1, requests_per_minute: 60 } });
    expect(app.context.tiers.limitsFor('enterprise')).toEqual({ members: null, api_keys: null, webhooks: null, requests_per_minute: null });
    expect(app.context.tiers.limitsFor('starter')).toEqual({ members: 25, api_keys: 10, webhooks: 5, requests_per_minute: 600 });
    expect(app.context.tiers.limitsFor('pro')).toEqual({ members: 100, api_keys: 50, webhooks: 20, requests_per_minute: 3000 });
  });

  it('free with 5 members refuses another invitation; a platform admin raises the tier to starter and it works', async () => {
    const { orgId, owner } = await orgWith(5);
    const email = uniqueEmail('sixth');
    const refused = expectProblem(await invite(orgId, owner.token, email), 403, 'tier_limit_reached');
    expect(refused).toMatchObject({ limit: 'members', max: 5, tier: 'free' });
    expect(refused.detail).toContain('members');
    expect(await query('SELECT 1 FROM org_invitations WHERE org_id = $1', [orgId])).toEqual([]);
    await expect(app.context.orgs.addMember(orgId, (await signedIn('direct')).user.id, 'member', { id: null }, CLIENT)).rejects.toMatchObject({ code: 'tier_limit_reached' });

    const raised = await setTier(orgId, adminToken, 'starter');
    expect(raised.statusCode, raised.body).toBe(200);
    expect(raised.json()).toMatchObject({ id: orgId, tier: 'starter', limits: { members: 25 } });
    expect((await call('GET', `/v1/orgs/${orgId}`, owner.token)).json()).toMatchObject({ tier: 'starter', limits: { members: 25 } });
    const audit = await query<{ actor_id: string; changes: unknown }>("SELECT actor_id, changes FROM audit_events WHERE org_id = $1 AND action = 'org.tier_changed'", [orgId]);
    expect(audit).toEqual([{ actor_id: expect.any(String), changes: { tier: { before: 'free', after: 'starter' } } }]);
    const events = await query<Record<string, unknown>>("SELECT * FROM events WHERE org_id = $1 AND type = 'org.updated'", [orgId]);
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events[0])).toContain(orgId);

    expect((await invite(orgId, owner.token, email)).statusCode).toBe(201);
  });

  it('counts pending invitations, and refuses an acceptance beyond the limit', async () => {
    const { orgId, owner } = await orgWith(3);
    const emails = [uniqueEmail('a'), uniqueEmail('b')];
    for (const email of emails) expect((await invite(orgId, owner.token, email)).statusCode).toBe(201);
    // 3 members + 2 pending = 5: no third invitation.
    expectProblem(await invite(orgId, owner.token, uniqueEmail('c')), 403, 'tier_limit_reached');

    // The organization fills up another way; the pending invitation can no longer be accepted.
    await app.context.orgs.addMember(orgId, (await signedIn('d')).user.id, 'member', { id: null }, CLIENT).catch(() => undefined);
    await query('UPDATE org_invitations SET revoked_at = now() WHERE org_id = $1 AND email = $2', [orgId, emails[1]]);
    await app.context.orgs.addMember(orgId, (await signedIn('e')).user.id, 'member', { id: null }, CLIENT);
    expect((await query<{ n: number }>('SELECT count(*)::int AS n FROM org_members WHERE org_id = $1', [orgId]))[0]!.n).toBe(5);
    const invitee = await signedIn('invitee', { email: emails[0]! });
    const res = await call('POST', '/v1/invitations/accept', invitee.token, { token: await invitationToken(emails[0]!) });
    const problem = expectProblem(res, 403, 'tier_limit_reached');
    expect(problem).toMatchObject({ limit: 'members', max: 5, tier: 'free' });
    expect(await query('SELECT 1 FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, invitee.user.id])).toEqual([]);
  });

  it('only platform admins change tiers; an unknown tier is 400, an unknown organization 404', async () => {
    const { orgId, owner } = await orgWith(1);
    expectProblem(await setTier(orgId, owner.token, 'enterprise'), 403, 'forbidden');
    expect((await setTier(orgId, null, 'enterprise')).statusCode).toBe(401);
    expectProblem(await setTier(orgId, adminToken, 'platinum'), 400, 'validation_failed');
    expect((await setTier('org_00000000000000000000000000', adminToken, 'pro')).statusCode).toBe(404);
    expect((await query<{ tier: string }>('SELECT tier FROM organizations WHERE id = $1', [orgId]))[0]!.tier).toBe('free');
  });
});

describe('TIER_LIMITS', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({ env: { TIER_LIMITS: '{"free":{"members":2}}' } });
  });
  afterAll(async () => app?.destroy());

  it('is merged over the defaults', async () => {
    expect(app.context.config.orgs.tierLimits.free).toEqual({ members: 2, api_keys: 2, webhooks: 1, requests_per_minute: 60 });
    expect(app.context.tiers.limitsFor('free').members).toBe(2);
    const owner = await signUp(app, uniqueEmail('owner'), PASSWORD);
    await app.context.db.sql.query('UPDATE users SET email_verified = true WHERE id = $1', [owner.id]);
    const org = await app.context.orgs.create({ ...(await app.context.accounts.getUser(owner.id))! }, { name: 'Small' }, CLIENT);
    const second = await signUp(app, uniqueEmail('second'), PASSWORD);
    await app.context.orgs.addMember(org.id, second.id, 'member', { id: null }, CLIENT);
    const third = await signUp(app, uniqueEmail('third'), PASSWORD);
    await expect(app.context.orgs.addMember(org.id, third.id, 'member', { id: null }, CLIENT)).rejects.toMatchObject({ code: 'tier_limit_reached', status: 403 });
  });
});

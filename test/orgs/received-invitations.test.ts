import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenFor, createEngineApp, createTestApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { columns, PASSWORD, testClient, type Role, type Signed } from '../helpers/client.js';
import { expectProblem } from '../helpers/http.js';
import { linkToken, signUp, uniqueEmail, waitForMail } from '../helpers/outbox.js';

/*
 * Invitations as their invitee sees them, for the hosted pages: the preview of an invitation link
 * (public: the token is the credential), and the signed-in user's own pending invitations, found by
 * the verified address, accepted or declined by id. Every refusal answers as the accept route does
 * for the same token, or 404 for an id that is not the caller's (nothing tells another's invitation
 * from none). On each engine.
 */

interface ReceivedBody {
  id: string;
  organization: { id: string; name: string };
  role: { key: string; name: string };
  email: string;
  inviter_name: string | null;
  expires_at: string;
}
interface InvitationBody {
  id: string;
  email: string;
  role: string;
  expires_at: string;
}

describe.each(engineCases())('received invitations on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const { call, query, signedIn, createOrg } = api;

    beforeAll(async () => {
      app = await createEngineApp(engine, { TIER_LIMITS: '{"free": {"members": null}, "starter": {"members": 2}}' });
    });
    afterAll(async () => app?.destroy());

    async function invite(orgId: string, by: Signed, email: string, role: Role | string = 'member'): Promise<InvitationBody> {
      const res = await call('POST', `/v1/orgs/${orgId}/invitations`, by.token, { email, role });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<InvitationBody>();
    }
    /** The token of the newest invitation mail to this address. */
    async function tokenFor(email: string, after?: string): Promise<string> {
      return linkToken(await waitForMail(app, { to: email, template: 'orgs.invitation', ...(after ? { after } : {}) }), 'invitations/accept');
    }
    /** An account whose address is not verified (it cannot sign in by default: its session is started directly). */
    async function unverified(email: string): Promise<{ token: string; userId: string }> {
      const user = await signUp(app, email, PASSWORD, undefined, { verified: false });
      return { token: await accessTokenFor(app, user.id), userId: user.id };
    }
    const preview = (token: string) => call('POST', '/v1/invitations/preview', null, { token });
    const acceptByToken = (who: { token: string }, token: string) => call('POST', '/v1/invitations/accept', who.token, { token });
    const mine = (who: { token: string }, query = '') => call('GET', `/v1/me/invitations${query}`, who.token);
    const acceptById = (who: { token: string } | null, id: string) => call('POST', `/v1/me/invitations/${id}/accept`, who?.token ?? null);
    const declineById = (who: { token: string } | null, id: string) => call('POST', `/v1/me/invitations/${id}/decline`, who?.token ?? null);
    const row = async (orgId: string, id: string) =>
      (await query<{ accepted_at: Date | null; accepted_by: string | null; revoked_at: Date | null }>(
        'SELECT accepted_at, accepted_by, revoked_at FROM org_invitations WHERE org_id = $1 AND id = $2',
        [orgId, id],
      ))[0];
    const roleOf = async (orgId: string, userId: string): Promise<string | null> =>
      (await query<{ role: string }>('SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, userId]))[0]?.role ?? null;
    const expire = (orgId: string, id: string) => query(`UPDATE org_invitations SET expires_at = now() - interval '1 minute' WHERE org_id = $1 AND id = $2`, [orgId, id]);
    /** A problem body without what differs per request, to compare two refusals. */
    const sameness = (body: Record<string, unknown>) => ({ ...body, instance: undefined, request_id: undefined });
    const A_WELL_FORMED_ID = 'inv_00000000000000000000000000';

    describe('POST /v1/invitations/preview', () => {
      it('shows the organization, the role (key and name), the invited address, the inviter and the expiry, without signing in; reads only', async () => {
        const owner = await signedIn('owner', { name: 'Olive Owner' });
        const org = await createOrg(owner, { name: 'Globex Research' });
        const support = await call('POST', `/v1/orgs/${org.id}/roles`, owner.token, { name: 'Support desk', permissions: ['org:read'] });
        expect(support.statusCode, support.body).toBe(201);
        const roleId = support.json<{ id: string }>().id;

        const email = uniqueEmail('previewed');
        const invited = await invite(org.id, owner, email, roleId);
        const token = await tokenFor(email);
        const res = await preview(token);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        // Exactly these members: nothing says whether the address has an account.
        expect(res.json()).toEqual({
          id: invited.id, organization: { id: org.id, name: 'Globex Research' }, role: { key: roleId, name: 'Support desk' }, email,
          inviter_name: 'Olive Owner', expires_at: invited.expires_at,
        });

        // A built-in role: its key is its name. An inviter without a name: null.
        const nameless = await signedIn('nameless');
        const other = await createOrg(nameless);
        const builtIn = uniqueEmail('builtin');
        const second = await invite(other.id, nameless, builtIn, 'admin');
        const secondPreview = await preview(await tokenFor(builtIn));
        expect(secondPreview.json()).toEqual({
          id: second.id, organization: { id: other.id, name: other.name }, role: { key: 'admin', name: 'admin' }, email: builtIn, inviter_name: null, expires_at: second.expires_at,
        });

        // Looking twice changes nothing; the link still works for the invitee.
        expect((await preview(token)).json()).toEqual(res.json());
        expect(await row(org.id, invited.id)).toMatchObject({ accepted_at: null, revoked_at: null });
        const invitee = await signedIn('previewed', { email });
        const accepted = await acceptByToken(invitee, token);
        expect(accepted.statusCode, accepted.body).toBe(200);
        expect(await roleOf(org.id, invitee.user.id)).toBe(roleId);
      });

      it('answers the same for an address with an account and one without (no account enumeration)', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const withAccount = await signedIn('has-account');
        const withoutAccount = uniqueEmail('no-account');
        await invite(org.id, owner, withAccount.email);
        await invite(org.id, owner, withoutAccount);
        const a = (await preview(await tokenFor(withAccount.email))).json<Record<string, unknown>>();
        const b = (await preview(await tokenFor(withoutAccount))).json<Record<string, unknown>>();
        expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
        expect(Object.keys(a).sort()).toEqual(['email', 'expires_at', 'id', 'inviter_name', 'organization', 'role']);
      });

      it('refuses an unknown, expired, revoked, used or replaced token with the refusal accepting it gets: 400 invitation_invalid', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const someone = await signedIn('someone');
        const cases: { label: string; token: string }[] = [{ label: 'unknown', token: 'not-a-real-invitation-token' }];

        const expiredEmail = uniqueEmail('expired');
        const expired = await invite(org.id, owner, expiredEmail);
        cases.push({ label: 'expired', token: await tokenFor(expiredEmail) });
        await expire(org.id, expired.id);

        const revokedEmail = uniqueEmail('revoked');
        const revoked = await invite(org.id, owner, revokedEmail);
        cases.push({ label: 'revoked', token: await tokenFor(revokedEmail) });
        expect((await call('DELETE', `/v1/orgs/${org.id}/invitations/${revoked.id}`, owner.token)).statusCode).toBe(204);

        const used = await signedIn('used');
        await invite(org.id, owner, used.email);
        const usedToken = await tokenFor(used.email);
        expect((await acceptByToken(used, usedToken)).statusCode).toBe(200);
        cases.push({ label: 'used', token: usedToken });

        const resentEmail = uniqueEmail('resent');
        const resent = await invite(org.id, owner, resentEmail);
        const first = await waitForMail(app, { to: resentEmail, template: 'orgs.invitation' });
        cases.push({ label: 'replaced by a resend', token: linkToken(first, 'invitations/accept') });
        expect((await call('POST', `/v1/orgs/${org.id}/invitations/${resent.id}/resend`, owner.token)).statusCode).toBe(200);
        const current = await tokenFor(resentEmail, first.id);

        for (const { label, token } of cases) {
          const previewed = expectProblem(await preview(token), 400, 'invitation_invalid');
          const accepting = expectProblem(await acceptByToken(someone, token), 400, 'invitation_invalid');
          expect(sameness(previewed), label).toEqual(sameness(accepting));
        }
        // The current link of the resent invitation previews.
        expect((await preview(current)).statusCode).toBe(200);
      });

      it('refuses a body that is not {token: string}: 400 validation_failed', async () => {
        for (const body of [{}, { token: '' }, { token: 'x'.repeat(201) }, { token: ['a', 'b'] }, { token: 'abc', extra: true }]) {
          expectProblem(await call('POST', '/v1/invitations/preview', null, body), 400, 'validation_failed');
        }
      });
    });

    describe('GET /v1/me/invitations', () => {
      it('lists the pending invitations to my verified address across organizations, oldest first, in pages; not closed, expired or others\' ones', async () => {
        const email = uniqueEmail('invitee');
        const alice = await signedIn('alice', { name: 'Alice Inviter' });
        const first = await createOrg(alice, { name: 'First Org' });
        const bob = await signedIn('bob');
        const second = await createOrg(bob, { name: 'Second Org' });
        const third = await createOrg(bob, { name: 'Third Org' });

        // Invited in another case: addresses compare case-insensitively.
        const a = await invite(first.id, alice, email.toUpperCase(), 'viewer');
        const b = await invite(second.id, bob, email, 'admin');
        // Not listed: expired, revoked, accepted, another address.
        const expired = await invite(third.id, bob, email);
        await expire(third.id, expired.id);
        const revokedOrg = await createOrg(bob);
        const revoked = await invite(revokedOrg.id, bob, email);
        expect((await call('DELETE', `/v1/orgs/${revokedOrg.id}/invitations/${revoked.id}`, bob.token)).statusCode).toBe(204);
        await invite(first.id, alice, uniqueEmail('someone-else'));
        const me = await signedIn('invitee', { email });

        const res = await mine(me);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toEqual({
          data: [
            { id: a.id, organization: { id: first.id, name: 'First Org' }, role: { key: 'viewer', name: 'viewer' }, email: email.toUpperCase(), inviter_name: 'Alice Inviter', expires_at: a.expires_at },
            { id: b.id, organization: { id: second.id, name: 'Second Org' }, role: { key: 'admin', name: 'admin' }, email, inviter_name: null, expires_at: b.expires_at },
          ],
          next_cursor: null,
        });

        // Pages: the cursor is the last id of a page.
        const page1 = (await mine(me, '?limit=1')).json<{ data: ReceivedBody[]; next_cursor: string | null }>();
        expect(page1).toEqual({ data: [expect.objectContaining({ id: a.id })], next_cursor: a.id });
        const page2 = (await mine(me, `?limit=1&cursor=${page1.next_cursor}`)).json<{ data: ReceivedBody[]; next_cursor: string | null }>();
        expect(page2).toEqual({ data: [expect.objectContaining({ id: b.id })], next_cursor: null });
        expect(await api.allPages<ReceivedBody>('/v1/me/invitations', me.token)).toHaveLength(2);
        expectProblem(await mine(me, '?cursor=not-an-id'), 400, 'validation_failed');
        expectProblem(await mine(me, '?limit=0'), 400, 'validation_failed');
      });

      it('lists none while my address is unverified, and none without a sign-in', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const email = uniqueEmail('unverified');
        await invite(org.id, owner, email);
        const squatter = await unverified(email);
        const res = await mine(squatter);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toEqual({ data: [], next_cursor: null });
        expectProblem(await call('GET', '/v1/me/invitations', null), 401, 'unauthorized');

        // Once the address is proven, the invitation shows.
        await query('UPDATE users SET email_verified = true WHERE id = $1', [squatter.userId]);
        expect((await mine(squatter)).json<{ data: ReceivedBody[] }>().data).toHaveLength(1);
      });
    });

    describe('POST /v1/me/invitations/{invitation_id}/accept', () => {
      it('joins the organization with the role, answers as POST /v1/invitations/accept, audits it, and spends the link', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const me = await signedIn('joiner');
        const invited = await invite(org.id, owner, me.email, 'admin');
        const token = await tokenFor(me.email);

        const res = await acceptById(me, invited.id);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toEqual({ org: expect.objectContaining({ id: org.id, name: org.name, slug: org.slug, role: 'admin' }), role: 'admin' });
        expect(await roleOf(org.id, me.user.id)).toBe('admin');
        expect(await row(org.id, invited.id)).toMatchObject({ accepted_at: expect.any(Date), accepted_by: me.user.id, revoked_at: null });
        expect(columns(await api.auditRows({ orgId: org.id, action: 'invitation.accepted' }), 'actor_id', 'target_id', 'result')).toEqual([
          { actor_id: me.user.id, target_id: invited.id, result: 'success' },
        ]);
        expect(columns(await api.auditRows({ orgId: org.id, action: 'member.added', targetId: me.user.id }), 'actor_id', 'result')).toEqual([{ actor_id: me.user.id, result: 'success' }]);
        expect(columns(await api.eventRows({ orgId: org.id, type: 'invitation.accepted' }), 'payload')).toEqual([
          { payload: { org_id: org.id, invitation_id: invited.id, user_id: me.user.id, role: 'admin' } },
        ]);

        // Spent: gone from my list, its link and its id no longer work.
        expect((await mine(me)).json<{ data: unknown[] }>().data).toEqual([]);
        expectProblem(await acceptByToken(me, token), 400, 'invitation_invalid');
        expectProblem(await acceptById(me, invited.id), 404, 'invitation_not_found');
      });

      it('refuses with 404 invitation_not_found every id that is not one of my pending invitations: expired, revoked, accepted, unknown, while unverified; nothing changes', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const me = await signedIn('refused');

        const expired = await invite(org.id, owner, me.email);
        await expire(org.id, expired.id);
        expectProblem(await acceptById(me, expired.id), 404, 'invitation_not_found');
        // Re-invited (the expired one is revoked and replaced), then revoked.
        const revoked = await invite(org.id, owner, me.email);
        expect((await call('DELETE', `/v1/orgs/${org.id}/invitations/${revoked.id}`, owner.token)).statusCode).toBe(204);
        expectProblem(await acceptById(me, revoked.id), 404, 'invitation_not_found');
        expectProblem(await acceptById(me, A_WELL_FORMED_ID), 404, 'invitation_not_found');
        expectProblem(await acceptById(me, 'not-an-invitation-id'), 400, 'validation_failed');
        expect(await roleOf(org.id, me.user.id)).toBeNull();

        // An unverified account holding the invited address sees nothing to accept.
        const email = uniqueEmail('squatted');
        const pending = await invite(org.id, owner, email);
        const squatter = await unverified(email);
        expectProblem(await acceptById(squatter, pending.id), 404, 'invitation_not_found');
        expect(await roleOf(org.id, squatter.userId)).toBeNull();
        expect(await row(org.id, pending.id)).toMatchObject({ accepted_at: null, revoked_at: null });

        expectProblem(await acceptById(null, pending.id), 401, 'unauthorized');
        expect(await api.auditRows({ orgId: org.id, action: 'invitation.accepted' })).toEqual([]);
      });

      it('refuses a member (409 already_member) and a full organization (403 tier_limit_reached); the invitation stays pending', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const member = await signedIn('already');
        const invited = await invite(org.id, owner, member.email, 'admin');
        await app.context.orgs.addMember(org.id, member.user.id, 'viewer', { id: null }, { ip: null, userAgent: null });
        expectProblem(await acceptById(member, invited.id), 409, 'already_member');
        expect(await roleOf(org.id, member.user.id)).toBe('viewer');
        expect(await row(org.id, invited.id)).toMatchObject({ accepted_at: null, revoked_at: null });

        // The starter tier holds 2 members: owner and the member above; a third cannot join.
        const latecomer = await signedIn('latecomer');
        const late = await invite(org.id, owner, latecomer.email);
        await query(`UPDATE organizations SET tier = 'starter' WHERE id = $1`, [org.id]);
        expectProblem(await acceptById(latecomer, late.id), 403, 'tier_limit_reached');
        expect(await roleOf(org.id, latecomer.user.id)).toBeNull();
        expect(await row(org.id, late.id)).toMatchObject({ accepted_at: null, revoked_at: null });
        expect((await mine(latecomer)).json<{ data: ReceivedBody[] }>().data.map((item) => item.id)).toEqual([late.id]);
      });
    });

    describe('POST /v1/me/invitations/{invitation_id}/decline', () => {
      it('ends the invitation as revoked by the invitee: 204, audited as invitation.declined, invitation.revoked for webhooks, the link dead, the address invitable again', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const me = await signedIn('decliner');
        const invited = await invite(org.id, owner, me.email, 'viewer');
        const token = await tokenFor(me.email);

        const res = await declineById(me, invited.id);
        expect(res.statusCode, res.body).toBe(204);
        expect(res.body).toBe('');
        expect(await row(org.id, invited.id)).toMatchObject({ accepted_at: null, accepted_by: null, revoked_at: expect.any(Date) });
        expect(await roleOf(org.id, me.user.id)).toBeNull();
        expect(columns(await api.auditRows({ orgId: org.id, action: 'invitation.declined' }), 'actor_type', 'actor_id', 'target_type', 'target_id', 'result')).toEqual([
          { actor_type: 'user', actor_id: me.user.id, target_type: 'invitation', target_id: invited.id, result: 'success' },
        ]);
        expect(columns(await api.eventRows({ orgId: org.id, type: 'invitation.revoked' }), 'payload')).toEqual([
          { payload: { org_id: org.id, invitation_id: invited.id, email: me.email, role: 'viewer', reason: 'declined', user_id: me.user.id } },
        ]);

        // Gone everywhere: my list, the organization's pending list, the link, the id.
        expect((await mine(me)).json<{ data: unknown[] }>().data).toEqual([]);
        expect((await call('GET', `/v1/orgs/${org.id}/invitations`, owner.token)).json<{ data: unknown[] }>().data).toEqual([]);
        expectProblem(await preview(token), 400, 'invitation_invalid');
        expectProblem(await acceptByToken(me, token), 400, 'invitation_invalid');
        expectProblem(await acceptById(me, invited.id), 404, 'invitation_not_found');
        expectProblem(await declineById(me, invited.id), 404, 'invitation_not_found');
        // The organization may invite the address again.
        await invite(org.id, owner, me.email);
      });

      it('refuses with 404 every id that is not one of my pending invitations, and 401 without a sign-in; nothing changes', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const me = await signedIn('not-mine');
        const expired = await invite(org.id, owner, me.email);
        await expire(org.id, expired.id);
        expectProblem(await declineById(me, expired.id), 404, 'invitation_not_found');
        expectProblem(await declineById(me, A_WELL_FORMED_ID), 404, 'invitation_not_found');
        expectProblem(await declineById(me, 'inv_short'), 400, 'validation_failed');

        const email = uniqueEmail('squatted-decline');
        const pending = await invite(org.id, owner, email);
        const squatter = await unverified(email);
        expectProblem(await declineById(squatter, pending.id), 404, 'invitation_not_found');
        expectProblem(await declineById(null, pending.id), 401, 'unauthorized');
        expect(await row(org.id, pending.id)).toMatchObject({ accepted_at: null, revoked_at: null });
        expect(await api.auditRows({ orgId: org.id, action: 'invitation.declined' })).toEqual([]);
      });
    });

    describe('cross-tenant', () => {
      it('user B neither sees nor accepts nor declines user A\'s invitations, whatever B knows of them; A\'s stay pending and work', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const userA = await signedIn('user-a');
        const userB = await signedIn('user-b');
        const forA = await invite(org.id, owner, userA.email, 'admin');
        const tokenA = await tokenFor(userA.email);
        // B has invitations of their own, from another organization.
        const elsewhere = await createOrg(await signedIn('other-owner'));
        const other = await signedIn('other-inviter');
        await app.context.orgs.addMember(elsewhere.id, other.user.id, 'admin', { id: null }, { ip: null, userAgent: null });
        const forB = await invite(elsewhere.id, other, userB.email);

        // B's list holds B's invitation only.
        expect((await mine(userB)).json<{ data: ReceivedBody[] }>().data.map((item) => item.id)).toEqual([forB.id]);
        expect((await mine(userA)).json<{ data: ReceivedBody[] }>().data.map((item) => item.id)).toEqual([forA.id]);

        // A's id answers B exactly as an id that does not exist.
        const unknown = expectProblem(await acceptById(userB, A_WELL_FORMED_ID), 404, 'invitation_not_found');
        const accepting = expectProblem(await acceptById(userB, forA.id), 404, 'invitation_not_found');
        const declining = expectProblem(await declineById(userB, forA.id), 404, 'invitation_not_found');
        expect(sameness(accepting)).toEqual(sameness(unknown));
        expect(sameness(declining)).toEqual(sameness(expectProblem(await declineById(userB, A_WELL_FORMED_ID), 404, 'invitation_not_found')));
        // Nor does the inviting owner, who knows the id from the organization's list.
        expectProblem(await acceptById(owner, forA.id), 404, 'invitation_not_found');
        expectProblem(await declineById(owner, forA.id), 404, 'invitation_not_found');
        // With A's token B is told it is another's (as before): the invitation is not B's to take.
        expectProblem(await acceptByToken(userB, tokenA), 403, 'invitation_email_mismatch');

        expect(await roleOf(org.id, userB.user.id)).toBeNull();
        expect(await row(org.id, forA.id)).toMatchObject({ accepted_at: null, revoked_at: null });
        expect(await api.auditRows({ orgId: org.id, action: 'invitation.declined' })).toEqual([]);
        // A's invitation still works for A.
        expect((await acceptById(userA, forA.id)).statusCode).toBe(200);
        expect(await roleOf(org.id, userA.user.id)).toBe('admin');
      });
    });

    it('documents the routes in the OpenAPI description with their body, parameters and answers', async () => {
      const spec = (await call('GET', '/openapi.json', null)).json<{ paths: Record<string, Record<string, { requestBody?: unknown; parameters?: { name: string; in: string }[]; responses: Record<string, unknown> }>> }>();
      const previewOp = spec.paths['/v1/invitations/preview']!.post!;
      expect(previewOp.requestBody).toBeDefined();
      expect(Object.keys(previewOp.responses).sort()).toEqual(['200', '400', '429']);
      const list = spec.paths['/v1/me/invitations']!.get!;
      expect(list.parameters!.map((p) => `${p.in}:${p.name}`).sort()).toEqual(['query:cursor', 'query:limit']);
      expect(Object.keys(list.responses)).toEqual(expect.arrayContaining(['200', '401']));
      for (const action of ['accept', 'decline']) {
        const op = spec.paths[`/v1/me/invitations/{invitation_id}/${action}`]!.post!;
        expect(op.parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(['path:invitation_id']);
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining([action === 'accept' ? '200' : '204', '401', '404']));
      }
    });
  });
});

describe('invitation preview rate limit', () => {
  let app: TestApp;
  const { call } = testClient(() => app);
  beforeAll(async () => {
    // The preview counts in the group of POST /v1/invitations/accept (default), not in the auth group.
    app = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMITS: JSON.stringify({ default: { max: 3, window_seconds: 60 }, auth: { max: 1, window_seconds: 60 } }) }, build: { workers: false } });
  });
  afterAll(async () => app?.destroy());

  it('is limited per address like POST /v1/invitations/accept: past the limit, 429 rate_limited with Retry-After', async () => {
    const ip = '198.51.100.41';
    for (let n = 0; n < 3; n++) expectProblem(await call('POST', '/v1/invitations/preview', null, { token: `unknown-token-${n}` }, { ip }), 400, 'invitation_invalid');
    const refused = await call('POST', '/v1/invitations/preview', null, { token: 'unknown-token-x' }, { ip });
    const body = expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(body.retry_after).toBe(Number(refused.headers['retry-after']));
    // Accept shares the budget: it is spent for this address.
    expectProblem(await call('POST', '/v1/invitations/accept', null, { token: 'unknown-token-y' }, { ip }), 429, 'rate_limited');
    // Another address has its own.
    expectProblem(await call('POST', '/v1/invitations/preview', null, { token: 'unknown-token-z' }, { ip: '198.51.100.42' }), 400, 'invitation_invalid');
  });
});

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenFor, createTestApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { columns, PASSWORD, testClient, type Role, type Signed } from '../helpers/client.js';
import { login, signUp, uniqueEmail, type UserBody } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../helpers/smtp.js';

/*
 * Organization invitations end to end through HTTP, with every mail read from a real SMTP server
 * started here: a newcomer signs up from the invitation link and lands in the organization; the
 * refusals (expired, used, revoked, foreign, unverified, a role the inviter may not grant, a caller
 * without members:write, a member or a pending invitation already there, a bad address); resend;
 * and the audit and outbox rows each change leaves.
 */

const PUBLIC_URL = 'http://app.tessera.test';
const WEEK_MS = 7 * 24 * 3600 * 1000;

interface InvitationBody {
  id: string;
  email: string;
  role: Role;
  invited_by: string | null;
  created_at: string;
  expires_at: string;
}

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
const escapeRegExp = (value: string): string => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const INVITATION_LINK = new RegExp(`${escapeRegExp(PUBLIC_URL)}/invitations/accept\\?token=([^\\s"<>&]+)`);
const VERIFY_LINK = new RegExp(`${escapeRegExp(PUBLIC_URL)}/verify-email\\?token=([^\\s"<>&]+)`);

function tokenOf(message: SinkMessage, link: RegExp): string {
  const match = link.exec(message.text);
  if (!match) throw new Error(`no link matching ${link} in the mail:\n${message.text}`);
  return decodeURIComponent(match[1]!);
}
const isInvitation = (message: SinkMessage): boolean => message.subject.startsWith('You are invited to join');

describe.each(engineCases())('organization invitations on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let smtp: SmtpSink;
    const api = testClient(() => app);
    const { call, query, signedIn, createOrg, team } = api;

    /** An account whose address is not verified: it cannot sign in (ALLOW_UNVERIFIED_LOGIN is off), so its session is started directly. */
    async function unverifiedAccount(label: string, email = uniqueEmail(label)): Promise<Pick<Signed, 'email' | 'user' | 'token'>> {
      const user = await signUp(app, email, PASSWORD, undefined, { verified: false });
      return { email, user, token: await accessTokenFor(app, user.id) };
    }

    async function invite(orgId: string, by: Signed, email: string, role: Role = 'member'): Promise<InvitationBody> {
      const res = await call('POST', `/v1/orgs/${orgId}/invitations`, by.token, { email, role });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<InvitationBody>();
    }

    /** The token of the n-th (1-based) invitation mail to this address, waiting for it to arrive. */
    async function invitationToken(email: string, n = 1): Promise<string> {
      await smtp.waitFor(() => smtp.messagesTo(email).filter(isInvitation).length >= n, 15_000, `invitation mail #${n} to ${email}`);
      return tokenOf(smtp.messagesTo(email).filter(isInvitation)[n - 1]!, INVITATION_LINK);
    }

    const accept = (by: { token: string }, token: string) => call('POST', '/v1/invitations/accept', by.token, { token });
    const roleOf = async (orgId: string, userId: string): Promise<string | null> =>
      (await query<{ role: string }>('SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, userId]))[0]?.role ?? null;
    const invitationRow = async (orgId: string, id: string) =>
      (await query<{ token_hash: string; accepted_at: Date | null; accepted_by: string | null; revoked_at: Date | null; expires_at: Date; created_at: Date }>(
        'SELECT token_hash, accepted_at, accepted_by, revoked_at, expires_at, created_at FROM org_invitations WHERE org_id = $1 AND id = $2',
        [orgId, id],
      ))[0];
    const invitationCount = async (orgId: string): Promise<number> =>
      (await query<{ n: number }>('SELECT count(*)::int AS n FROM org_invitations WHERE org_id = $1', [orgId]))[0]!.n;
    const audit = async (orgId: string, action: string) => columns(await api.auditRows({ orgId, action }), 'actor_id', 'target_type', 'target_id', 'result');
    const outbox = async (orgId: string, type: string) => columns(await api.eventRows({ orgId, type }), 'payload');

    beforeAll(async () => {
      smtp = await startSmtpSink();
      app = await createTestApp({ engine, env: { PUBLIC_URL, SMTP_URL: smtp.url, MAIL_FROM: 'Tessera <no-reply@tessera.test>', TIER_LIMITS: '{"free": {"members": null}}' } });
    });
    afterAll(async () => {
      await app?.destroy();
      await smtp?.close();
    });

    it('a new person signs up from the mailed link, verifies, signs in, accepts, and lands in the organization with the role', async () => {
      const owner = await signedIn('owner', { name: 'Olive Owner' });
      const { id: orgId, name: orgName } = await createOrg(owner);
      const newcomer = uniqueEmail('newcomer');
      // Invited with different case: the address is compared case-insensitively.
      const invited = await invite(orgId, owner, newcomer.toUpperCase(), 'admin');
      expect(invited).toMatchObject({ id: expect.stringMatching(/^inv_[0-9a-z]{26}$/), email: newcomer.toUpperCase(), role: 'admin', invited_by: owner.user.id });
      const lifetime = Date.parse(invited.expires_at) - Date.parse(invited.created_at);
      expect(lifetime).toBe(WEEK_MS);

      // The real invitation mail, as the SMTP server received it.
      const mail = await smtp.waitFor((m) => m.rcptTo.includes(newcomer) && isInvitation(m), 15_000, 'the invitation mail');
      expect(mail.envelopeFrom).toBe('no-reply@tessera.test');
      expect(mail.subject).toBe(`You are invited to join ${orgName} on Tessera`);
      for (const part of [mail.text, mail.html!]) {
        expect(part).toContain('Olive Owner');
        expect(part).toContain(owner.email);
        expect(part).toContain(orgName);
        expect(part).toContain('admin');
        expect(part).toContain(`${PUBLIC_URL}/invitations/accept?token=`);
        expect(part).toContain(`${invited.expires_at.slice(0, 16).replace('T', ' ')} UTC`);
      }
      const token = tokenOf(mail, INVITATION_LINK);
      // Only the SHA-256 of the token is stored.
      const stored = await invitationRow(orgId, invited.id);
      expect(stored!.token_hash).toBe(sha256(token));
      expect(JSON.stringify(await query('SELECT * FROM org_invitations WHERE org_id = $1', [orgId]))).not.toContain(token);

      // Sign up with the invited address; verify it with the verification mail from the same server.
      const signup = await call('POST', '/v1/auth/signup', null, { email: newcomer, password: PASSWORD, name: 'Nia Newcomer' });
      expect(signup.statusCode, signup.body).toBe(201);
      const userId = signup.json<{ user: UserBody }>().user.id;
      const verifyMail = await smtp.waitFor((m) => m.rcptTo.includes(newcomer) && m.subject.startsWith('Verify your email address'), 15_000, 'the verification mail');
      // With the password: the account keeps the password it was made with (see POST /v1/auth/verify-email).
      const verified = await call('POST', '/v1/auth/verify-email', null, { token: tokenOf(verifyMail, VERIFY_LINK), password: PASSWORD });
      expect(verified.statusCode, verified.body).toBe(200);
      const nia = { email: newcomer, user: verified.json<{ user: UserBody }>().user, token: (await login(app, newcomer, PASSWORD)).access_token };

      const accepted = await accept(nia, token);
      expect(accepted.statusCode, accepted.body).toBe(200);
      expect(accepted.json()).toMatchObject({ org: { id: orgId, name: orgName, role: 'admin' }, role: 'admin' });
      expect(await roleOf(orgId, userId)).toBe('admin');

      const members = await call('GET', `/v1/orgs/${orgId}/members`, owner.token);
      expect(members.json<{ data: { user_id: string; email: string; role: string }[] }>().data).toContainEqual(
        expect.objectContaining({ user_id: userId, email: newcomer, role: 'admin' }),
      );
      // The new member sees the organization as theirs.
      const mine = await call('GET', '/v1/orgs', nia.token);
      expect(mine.json<{ data: { id: string; role: string }[] }>().data).toContainEqual(expect.objectContaining({ id: orgId, role: 'admin' }));

      const row = await invitationRow(orgId, invited.id);
      expect(row!.accepted_at).not.toBeNull();
      expect(row!.accepted_by).toBe(userId);
      expect((await call('GET', `/v1/orgs/${orgId}/invitations`, owner.token)).json<{ data: unknown[] }>().data).toEqual([]);

      // Audit and outbox: created by the owner, accepted and added by the newcomer.
      expect(await audit(orgId, 'invitation.created')).toEqual([{ actor_id: owner.user.id, target_type: 'invitation', target_id: invited.id, result: 'success' }]);
      expect(await audit(orgId, 'invitation.accepted')).toEqual([{ actor_id: userId, target_type: 'invitation', target_id: invited.id, result: 'success' }]);
      expect(await audit(orgId, 'member.added')).toContainEqual({ actor_id: userId, target_type: 'user', target_id: userId, result: 'success' });
      expect(await outbox(orgId, 'invitation.created')).toEqual([
        { payload: { org_id: orgId, invitation_id: invited.id, email: newcomer.toUpperCase(), role: 'admin', expires_at: invited.expires_at } },
      ]);
      expect(await outbox(orgId, 'invitation.accepted')).toEqual([{ payload: { org_id: orgId, invitation_id: invited.id, user_id: userId, role: 'admin' } }]);
      expect(await outbox(orgId, 'member.added')).toContainEqual({ payload: { org_id: orgId, user_id: userId, role: 'admin', invitation_id: invited.id } });
      // No event or audit entry carries the token.
      expect(JSON.stringify(await query('SELECT payload FROM events WHERE org_id = $1', [orgId]))).not.toContain(token);

      // Used: the token works once.
      expectProblem(await accept(nia, token), 400, 'invitation_invalid');
    });

    it('lists pending invitations to members:read, not to a viewer', async () => {
      const { org: { id: orgId }, owner, member, viewer } = await team();
      const a = await invite(orgId, owner, uniqueEmail('pending-a'));
      const b = await invite(orgId, owner, uniqueEmail('pending-b'), 'viewer');
      const res = await call('GET', `/v1/orgs/${orgId}/invitations`, member.token);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ data: [a, b], next_cursor: null });
      expectProblem(await call('GET', `/v1/orgs/${orgId}/invitations`, viewer.token), 403, 'permission_denied');
    });

    it('refuses invitations the caller may not make, and writes nothing', async () => {
      const { org: { id: orgId }, owner, admin, member, viewer } = await team();
      const email = uniqueEmail('refused');
      // Only an owner invites an owner.
      expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations`, admin.token, { email, role: 'owner' }), 403, 'permission_denied');
      // members:read only: the org guard stops it.
      expect(expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations`, member.token, { email, role: 'viewer' }), 403, 'permission_denied')).toMatchObject({ permission: 'members:write' });
      expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations`, viewer.token, { email, role: 'viewer' }), 403, 'permission_denied');
      // An existing member (any case).
      expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations`, owner.token, { email: member.email.toUpperCase(), role: 'admin' }), 409, 'already_member');
      // A bad address; an unknown role.
      expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations`, owner.token, { email: 'not an email', role: 'member' }), 422, 'invalid_email');
      expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations`, owner.token, { email, role: 'emperor' }), 400, 'validation_failed');
      expect(await invitationCount(orgId)).toBe(0);
      expect(await audit(orgId, 'invitation.created')).toEqual([]);

      // An admin invites an admin; an owner invites an owner.
      await invite(orgId, admin, email, 'admin');
      await invite(orgId, owner, uniqueEmail('co-owner'), 'owner');
      // A pending invitation for the address: resend instead.
      expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations`, owner.token, { email: email.toUpperCase(), role: 'member' }), 409, 'invitation_pending');
      expect(await invitationCount(orgId)).toBe(2);
    });

    it('refuses an expired invitation, and the address can be invited again', async () => {
      const { org: { id: orgId }, owner } = await team();
      const invitee = await signedIn('expired');
      const invited = await invite(orgId, owner, invitee.email);
      const token = await invitationToken(invitee.email);
      await query(`UPDATE org_invitations SET expires_at = now() - interval '1 minute' WHERE org_id = $1 AND id = $2`, [orgId, invited.id]);
      expectProblem(await accept(invitee, token), 400, 'invitation_invalid');
      expect(await roleOf(orgId, invitee.user.id)).toBeNull();
      expect((await call('GET', `/v1/orgs/${orgId}/invitations`, owner.token)).json<{ data: unknown[] }>().data).toEqual([]);
      await invite(orgId, owner, invitee.email);
    });

    it('refuses a revoked invitation', async () => {
      const { org: { id: orgId }, owner, admin } = await team();
      const invitee = await signedIn('revoked');
      const invited = await invite(orgId, owner, invitee.email, 'viewer');
      const token = await invitationToken(invitee.email);
      const revoked = await call('DELETE', `/v1/orgs/${orgId}/invitations/${invited.id}`, admin.token);
      expect(revoked.statusCode, revoked.body).toBe(204);
      expectProblem(await accept(invitee, token), 400, 'invitation_invalid');
      expect(await roleOf(orgId, invitee.user.id)).toBeNull();
      expect((await invitationRow(orgId, invited.id))!.revoked_at).not.toBeNull();
      expectProblem(await call('DELETE', `/v1/orgs/${orgId}/invitations/${invited.id}`, admin.token), 404, 'invitation_not_found');
      expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations/${invited.id}/resend`, admin.token), 404, 'invitation_not_found');
      expect(await audit(orgId, 'invitation.revoked')).toEqual([{ actor_id: admin.user.id, target_type: 'invitation', target_id: invited.id, result: 'success' }]);
      expect(await outbox(orgId, 'invitation.revoked')).toEqual([{ payload: { org_id: orgId, invitation_id: invited.id, email: invitee.email, role: 'viewer' } }]);
    });

    it('refuses a token presented by someone else, and by the invitee before verifying; the invitation stays usable', async () => {
      const { org: { id: orgId }, owner } = await team();
      const email = uniqueEmail('foreign');
      await invite(orgId, owner, email);
      const token = await invitationToken(email);
      const stranger = await signedIn('stranger');
      expectProblem(await accept(stranger, token), 403, 'invitation_email_mismatch');
      expect(await roleOf(orgId, stranger.user.id)).toBeNull();

      const unverified = await unverifiedAccount('unverified', email);
      expectProblem(await accept(unverified, token), 403, 'email_not_verified');
      expect(await roleOf(orgId, unverified.user.id)).toBeNull();

      await query('UPDATE users SET email_verified = true WHERE id = $1', [unverified.user.id]);
      expect((await accept(unverified, token)).statusCode).toBe(200);
      expect(await roleOf(orgId, unverified.user.id)).toBe('member');
      expect(await audit(orgId, 'invitation.accepted')).toHaveLength(1);
    });

    it('refuses a token of someone who became a member meanwhile: 409, nothing changed', async () => {
      const { org: { id: orgId }, owner } = await team();
      const invitee = await signedIn('meanwhile');
      await invite(orgId, owner, invitee.email, 'admin');
      const token = await invitationToken(invitee.email);
      await app.context.orgs.addMember(orgId, invitee.user.id, 'viewer', { id: null }, { ip: null, userAgent: null });
      expectProblem(await accept(invitee, token), 409, 'already_member');
      expect(await roleOf(orgId, invitee.user.id)).toBe('viewer');
      expect(await audit(orgId, 'invitation.accepted')).toEqual([]);
    });

    it('resend mails a new link with a new expiry; the old link stops working', async () => {
      const { org: { id: orgId }, owner, admin } = await team();
      const invitee = await signedIn('resend');
      const invited = await invite(orgId, owner, invitee.email, 'owner');
      const first = await invitationToken(invitee.email);
      // An admin cannot re-issue an invitation to be an owner.
      expectProblem(await call('POST', `/v1/orgs/${orgId}/invitations/${invited.id}/resend`, admin.token), 403, 'permission_denied');
      await query(`UPDATE org_invitations SET expires_at = now() - interval '1 minute' WHERE org_id = $1 AND id = $2`, [orgId, invited.id]);

      const resent = await call('POST', `/v1/orgs/${orgId}/invitations/${invited.id}/resend`, owner.token);
      expect(resent.statusCode, resent.body).toBe(200);
      expect(Date.parse(resent.json<InvitationBody>().expires_at)).toBeGreaterThan(Date.now() + WEEK_MS - 60_000);
      const second = await invitationToken(invitee.email, 2);
      expect(second).not.toBe(first);

      expectProblem(await accept(invitee, first), 400, 'invitation_invalid');
      const accepted = await accept(invitee, second);
      expect(accepted.statusCode, accepted.body).toBe(200);
      expect(await roleOf(orgId, invitee.user.id)).toBe('owner');
      expect(await audit(orgId, 'invitation.resent')).toEqual([{ actor_id: owner.user.id, target_type: 'invitation', target_id: invited.id, result: 'success' }]);
    });

    it('refuses an unknown token and an unauthenticated call', async () => {
      const someone = await signedIn('someone');
      expectProblem(await accept(someone, 'not-a-real-token'), 400, 'invitation_invalid');
      expect((await call('POST', '/v1/invitations/accept', null, { token: 'x' })).statusCode).toBe(401);
    });
  });
});

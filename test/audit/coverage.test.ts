import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { authenticator } from '../helpers/authenticator.js';
import { engineCases } from '../helpers/db.js';
import { PASSWORD, type Signed } from '../helpers/client.js';
import { linkToken, login, uniqueEmail, waitForMail } from '../helpers/outbox.js';
import { appOn, expectShape, harness, runsOn, type Entry } from './harness.js';

/*
 * Coverage of the audit log (issue #7): every action the issue names writes one entry of the
 * issue's shape, read back through GET /v1/admin/audit-logs: who (type, id, and the display they
 * had at the time), where (org_id), what (action, target), how it went (result, reason), from where
 * (ip, user agent, the request's id), and before/after without secrets. On each engine.
 */

const UA = 'Mozilla/5.0 (audit coverage)';

describe.each(engineCases())('audit coverage on $engine', ({ engine, available }) => {
  describe.skipIf(!runsOn(engine, available))(engine, () => {
    let app: TestApp;
    const h = harness(() => app);
    const { call, query } = h;

    beforeAll(async () => {
      app = await appOn(engine);
    });
    afterAll(async () => app?.destroy());

    /** The entry's request context is the request's: its address, its user agent, its x-request-id. */
    function expectFrom(entry: Entry, ip: string, requestId: unknown): void {
      expect(entry.ip).toBe(ip);
      expect(entry.user_agent).toBe(UA);
      expect(requestId).toEqual(expect.any(String));
      expect(entry.request_id).toBe(requestId);
    }

    describe('accounts and sessions', () => {
      it('sign-up: user.signed_up by the new user, display the address, from the request', async () => {
        const email = uniqueEmail('signup');
        const res = await call('POST', '/v1/auth/signup', null, { email, password: PASSWORD }, { ip: '198.51.100.10', userAgent: UA });
        expect(res.statusCode, res.body).toBe(201);
        const userId = res.json<{ user: { id: string } }>().user.id;
        const entry = await h.one('user.signed_up', `user:${userId}`);
        expectShape(entry);
        expect(entry).toMatchObject({ actor: { type: 'user', id: userId, display: email }, org_id: null, target: { type: 'user', id: userId }, result: 'success', reason: null });
        expectFrom(entry, '198.51.100.10', res.headers['x-request-id']);
        expect(JSON.stringify(entry)).not.toContain(PASSWORD);
      });

      it('sign-in: success names the new session; a wrong password is a failure with its reason; an unknown address a failure with no actor id', async () => {
        const me = await h.signedIn('signin');
        const ok = await call('POST', '/v1/auth/login', null, { email: me.email, password: PASSWORD }, { ip: '198.51.100.11', userAgent: UA });
        expect(ok.statusCode, ok.body).toBe(200);
        const sessionId = ok.json<{ session_id: string }>().session_id;
        const success = await h.one('auth.login', `session:${sessionId}`);
        expectShape(success);
        expect(success).toMatchObject({ actor: { type: 'user', id: me.user.id, display: me.email }, target: { type: 'session', id: sessionId }, result: 'success', org_id: null });
        expectFrom(success, '198.51.100.11', ok.headers['x-request-id']);

        const wrong = await call('POST', '/v1/auth/login', null, { email: me.email, password: 'not the password at all' }, { ip: '198.51.100.12', userAgent: UA });
        expect(wrong.statusCode).toBe(401);
        const failures = (await h.entries({ target: `user:${me.user.id}`, action: 'auth.login', result: 'failure' }));
        expect(failures).toHaveLength(1);
        expectShape(failures[0]!);
        expect(failures[0]).toMatchObject({ actor: { type: 'user', id: me.user.id, display: me.email }, target: { type: 'user', id: me.user.id }, result: 'failure', reason: 'wrong_password' });
        expectFrom(failures[0]!, '198.51.100.12', wrong.headers['x-request-id']);
        // Neither password appears anywhere in the entry.
        expect(JSON.stringify(failures[0])).not.toContain('not the password at all');

        const nobody = uniqueEmail('nobody');
        expect((await call('POST', '/v1/auth/login', null, { email: nobody, password: PASSWORD }, { ip: '198.51.100.13' })).statusCode).toBe(401);
        const unknown = (await h.entries({ action: 'auth.login', ip: '198.51.100.13' }));
        expect(unknown).toHaveLength(1);
        expect(unknown[0]).toMatchObject({ actor: { type: 'user', id: null, display: nobody }, target: null, result: 'failure', reason: 'unknown_email' });
      });

      it('password change and reset: user.password_changed and user.password_reset, no password or hash in the entry; the sessions they end are each revoked and audited', async () => {
        const me = await h.signedIn('password');
        const other = await login(app, me.email, PASSWORD); // a second session, ended by the change
        const newPassword = 'another long passphrase 42';
        const changed = await call('POST', '/v1/me/password', me.token, { current_password: PASSWORD, new_password: newPassword }, { userAgent: UA });
        expect(changed.statusCode, changed.body).toBe(204);
        const entry = await h.one('user.password_changed', `user:${me.user.id}`);
        expectShape(entry);
        expect(entry).toMatchObject({ actor: { type: 'user', id: me.user.id, display: me.email }, result: 'success' });
        expect(entry.changes).toBeNull();
        const { password_hash: hash } = (await query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [me.user.id]))[0]!;
        for (const secret of [PASSWORD, newPassword, hash]) expect(JSON.stringify(entry)).not.toContain(secret);
        const revoked = await h.one('session.revoked', `session:${other.session_id}`);
        expect(revoked).toMatchObject({ actor: { type: 'user', id: me.user.id }, reason: 'password_changed' });

        expect((await call('POST', '/v1/auth/password/forgot', null, { email: me.email })).statusCode).toBe(202);
        const mail = await waitForMail(app, { to: me.email, template: 'accounts.password_reset' });
        const resetPassword = 'a third passphrase, long enough';
        const reset = await call('POST', '/v1/auth/password/reset', null, { token: linkToken(mail, 'reset-password'), password: resetPassword }, { ip: '198.51.100.14', userAgent: UA });
        expect(reset.statusCode, reset.body).toBe(204);
        const resetEntry = await h.one('user.password_reset', `user:${me.user.id}`);
        expectShape(resetEntry);
        expect(resetEntry).toMatchObject({ actor: { type: 'user', id: me.user.id, display: me.email }, result: 'success' });
        expectFrom(resetEntry, '198.51.100.14', reset.headers['x-request-id']);
        for (const secret of [resetPassword, linkToken(mail, 'reset-password')]) expect(JSON.stringify(resetEntry)).not.toContain(secret);
        const requested = await h.one('user.password_reset_requested', `user:${me.user.id}`);
        expect(JSON.stringify(requested)).not.toContain(linkToken(mail, 'reset-password'));
      });

      it('session revocation: DELETE /v1/me/sessions/{id} writes session.revoked by the user on that session', async () => {
        const me = await h.signedIn('revoke');
        const second = await login(app, me.email, PASSWORD);
        const res = await call('DELETE', `/v1/me/sessions/${second.session_id}`, me.token, undefined, { ip: '198.51.100.15', userAgent: UA });
        expect(res.statusCode, res.body).toBe(204);
        const entry = await h.one('session.revoked', `session:${second.session_id}`);
        expectShape(entry);
        expect(entry).toMatchObject({ actor: { type: 'user', id: me.user.id, display: me.email }, target: { type: 'session', id: second.session_id }, result: 'success' });
        expectFrom(entry, '198.51.100.15', res.headers['x-request-id']);
      });

      it('MFA enable and disable: mfa.enabled and mfa.disabled, neither with the TOTP secret nor a backup code', async () => {
        const me = await h.signedIn('mfa');
        const started = await call('POST', '/v1/me/mfa/totp', me.token);
        expect(started.statusCode, started.body).toBe(200);
        const { secret, otpauth_uri: uri } = started.json<{ secret: string; otpauth_uri: string }>();
        const device = authenticator(uri);
        const code = await device.next();
        const confirmed = await call('POST', '/v1/me/mfa/totp/confirm', me.token, { code }, { ip: '198.51.100.16', userAgent: UA });
        expect(confirmed.statusCode, confirmed.body).toBe(200);
        const backupCodes = confirmed.json<{ backup_codes: string[] }>().backup_codes;
        const enabled = await h.one('mfa.enabled', `user:${me.user.id}`);
        expectShape(enabled);
        expect(enabled).toMatchObject({ actor: { type: 'user', id: me.user.id, display: me.email }, target: { type: 'user', id: me.user.id }, result: 'success' });
        expectFrom(enabled, '198.51.100.16', confirmed.headers['x-request-id']);

        const disabled = await call('DELETE', '/v1/me/mfa/totp', me.token, undefined, { userAgent: UA });
        expect(disabled.statusCode, disabled.body).toBe(204);
        const entry = await h.one('mfa.disabled', `user:${me.user.id}`);
        expect(entry).toMatchObject({ actor: { type: 'user', id: me.user.id, display: me.email }, result: 'success' });
        const text = JSON.stringify(await h.entries({ target: `user:${me.user.id}` }));
        for (const value of [secret, code, ...backupCodes]) expect(text).not.toContain(value);
      });

      it("display is the actor's address at the time: a later change of address leaves old entries as they were", async () => {
        const me = await h.signedIn('display');
        const before = await h.one('user.signed_up', `user:${me.user.id}`);
        const renamed = uniqueEmail('renamed');
        await query('UPDATE users SET email = $2 WHERE id = $1', [me.user.id, renamed]);
        const after = await login(app, renamed, PASSWORD);
        // The same entry as before (sealed meanwhile, perhaps: seq and hash may have been filled in).
        const { seq: _seq, hash: _hash, ...content } = before;
        expect(await h.one('user.signed_up', `user:${me.user.id}`)).toMatchObject(content);
        expect(before.actor.display).toBe(me.email);
        expect((await h.one('auth.login', `session:${after.session_id}`)).actor.display).toBe(renamed);
        // Old sign-ins keep the old address too.
        expect((await h.one('auth.login', `session:${me.sessionId}`)).actor.display).toBe(me.email);
      });
    });

    describe('organizations, members, roles, invitations, API keys', () => {
      let owner: Signed;
      let orgId: string;

      beforeAll(async () => {
        owner = await h.signedIn('owner');
        orgId = (await h.createOrg(owner, { name: 'Audit Coverage' })).id;
      });

      it('organization create, update, delete: org.created (+ the owner\'s member.added), org.updated with before/after, org.deleted', async () => {
        const created = await h.one('org.created', `org:${orgId}`);
        expectShape(created);
        expect(created).toMatchObject({ org_id: orgId, actor: { type: 'user', id: owner.user.id, display: owner.email }, target: { type: 'org', id: orgId } });
        expect((await h.entries({ org_id: orgId, action: 'member.added', target: `user:${owner.user.id}` }))).toHaveLength(1);

        const patched = await call('PATCH', `/v1/orgs/${orgId}`, owner.token, { name: 'Audit Coverage Renamed' }, { ip: '198.51.100.20', userAgent: UA });
        expect(patched.statusCode, patched.body).toBe(200);
        const updated = await h.one('org.updated', `org:${orgId}`);
        expectShape(updated);
        expect(updated).toMatchObject({ org_id: orgId, actor: { type: 'user', id: owner.user.id, display: owner.email }, changes: { name: { before: 'Audit Coverage', after: 'Audit Coverage Renamed' } } });
        expectFrom(updated, '198.51.100.20', patched.headers['x-request-id']);

        // A refused change writes nothing: the same slug as another organization is a 409.
        const rival = (await h.createOrg(owner)).id;
        const { slug } = (await query<{ slug: string }>('SELECT slug FROM organizations WHERE id = $1', [rival]))[0]!;
        expect((await call('PATCH', `/v1/orgs/${orgId}`, owner.token, { slug })).statusCode).toBe(409);
        expect((await h.entries({ target: `org:${orgId}`, action: 'org.updated' }))).toHaveLength(1);

        const removed = await call('DELETE', `/v1/orgs/${rival}`, owner.token);
        expect(removed.statusCode, removed.body).toBe(204);
        const deleted = await h.one('org.deleted', `org:${rival}`);
        expectShape(deleted);
        expect(deleted).toMatchObject({ org_id: rival, actor: { type: 'user', id: owner.user.id, display: owner.email }, result: 'success' });
      });

      it('member role change and removal: member.role_changed with before/after, member.removed', async () => {
        const member = await h.joined(orgId, 'member');
        const changed = await call('PATCH', `/v1/orgs/${orgId}/members/${member.user.id}`, owner.token, { role: 'admin' }, { userAgent: UA });
        expect(changed.statusCode, changed.body).toBe(204);
        const entry = await h.one('member.role_changed', `user:${member.user.id}`);
        expectShape(entry);
        expect(entry).toMatchObject({ org_id: orgId, actor: { type: 'user', id: owner.user.id, display: owner.email }, target: { type: 'user', id: member.user.id }, changes: { role: { before: 'member', after: 'admin' } } });

        const removed = await call('DELETE', `/v1/orgs/${orgId}/members/${member.user.id}`, owner.token);
        expect(removed.statusCode, removed.body).toBe(204);
        expect(await h.one('member.removed', `user:${member.user.id}`)).toMatchObject({ org_id: orgId, actor: { id: owner.user.id }, result: 'success' });
      });

      it('invitation create, revoke, accept: invitation.* entries, and the accepting user\'s member.added; the token never appears', async () => {
        const revokedEmail = uniqueEmail('revoked-invitee');
        const first = await call('POST', `/v1/orgs/${orgId}/invitations`, owner.token, { email: revokedEmail, role: 'viewer' });
        expect(first.statusCode, first.body).toBe(201);
        const firstId = first.json<{ id: string }>().id;
        expect(await h.one('invitation.created', `invitation:${firstId}`)).toMatchObject({ org_id: orgId, actor: { type: 'user', id: owner.user.id, display: owner.email } });
        expect((await call('DELETE', `/v1/orgs/${orgId}/invitations/${firstId}`, owner.token)).statusCode).toBe(204);
        expect(await h.one('invitation.revoked', `invitation:${firstId}`)).toMatchObject({ org_id: orgId, actor: { id: owner.user.id } });

        const invitee = await h.signedIn('invitee');
        await query('UPDATE users SET email_verified = true WHERE id = $1', [invitee.user.id]);
        const second = await call('POST', `/v1/orgs/${orgId}/invitations`, owner.token, { email: invitee.email, role: 'member' });
        expect(second.statusCode, second.body).toBe(201);
        const secondId = second.json<{ id: string }>().id;
        const mail = await waitForMail(app, { to: invitee.email, template: 'orgs.invitation' });
        const token = decodeURIComponent(/\/invitations\/accept\?token=([^\s"'<>&]+)/.exec(mail.text)![1]!);
        const accepted = await call('POST', '/v1/invitations/accept', invitee.token, { token }, { ip: '198.51.100.21', userAgent: UA });
        expect(accepted.statusCode, accepted.body).toBe(200);
        const entry = await h.one('invitation.accepted', `invitation:${secondId}`);
        expectShape(entry);
        expect(entry).toMatchObject({ org_id: orgId, actor: { type: 'user', id: invitee.user.id, display: invitee.email } });
        expectFrom(entry, '198.51.100.21', accepted.headers['x-request-id']);
        expect(await h.one('member.added', `user:${invitee.user.id}`)).toMatchObject({ org_id: orgId, actor: { id: invitee.user.id } });
        expect(JSON.stringify(await h.entries({ org_id: orgId, action: 'invitation.' }))).not.toContain(token);
      });

      it('role create, update, delete: role.* with before/after of what changed', async () => {
        const created = await call('POST', `/v1/orgs/${orgId}/roles`, owner.token, { name: 'Auditors', permissions: ['org:read'] });
        expect(created.statusCode, created.body).toBe(201);
        const roleId = created.json<{ id: string }>().id;
        expect(await h.one('role.created', `role:${roleId}`)).toMatchObject({ org_id: orgId, actor: { type: 'user', id: owner.user.id, display: owner.email }, target: { type: 'role', id: roleId } });
        const patched = await call('PATCH', `/v1/orgs/${orgId}/roles/${roleId}`, owner.token, { permissions: ['org:read', 'audit:read'] });
        expect(patched.statusCode, patched.body).toBe(200);
        const updated = await h.one('role.updated', `role:${roleId}`);
        expect(updated.changes).toEqual({ permissions: { before: ['org:read'], after: ['org:read', 'audit:read'] } });
        expect((await call('DELETE', `/v1/orgs/${orgId}/roles/${roleId}`, owner.token)).statusCode).toBe(204);
        expect(await h.one('role.deleted', `role:${roleId}`)).toMatchObject({ org_id: orgId, actor: { id: owner.user.id }, result: 'success' });
      });

      it('API key create and revoke; what a key does is audited as actor api_key with the key\'s name; the secret never appears', async () => {
        const key = await h.apiKey(orgId, owner, ['org:read', 'roles:write'], 'Deploy bot');
        const created = await h.one('api_key.created', `api_key:${key.id}`);
        expectShape(created);
        expect(created).toMatchObject({ org_id: orgId, actor: { type: 'user', id: owner.user.id, display: owner.email }, target: { type: 'api_key', id: key.id } });

        const byKey = await call('POST', `/v1/orgs/${orgId}/roles`, null, { name: 'Made by a key', permissions: ['org:read'] }, { headers: { 'x-api-key': key.secret }, ip: '198.51.100.22', userAgent: UA });
        expect(byKey.statusCode, byKey.body).toBe(201);
        const roleEntry = await h.one('role.created', `role:${byKey.json<{ id: string }>().id}`);
        expectShape(roleEntry);
        expect(roleEntry).toMatchObject({ org_id: orgId, actor: { type: 'api_key', id: key.id, display: 'Deploy bot' } });
        expectFrom(roleEntry, '198.51.100.22', byKey.headers['x-request-id']);

        expect((await call('DELETE', `/v1/orgs/${orgId}/api-keys/${key.id}`, owner.token)).statusCode).toBe(204);
        expect(await h.one('api_key.revoked', `api_key:${key.id}`)).toMatchObject({ org_id: orgId, actor: { type: 'user', id: owner.user.id } });
        expect(JSON.stringify(await h.entries({ org_id: orgId }))).not.toContain(key.secret);
      });

      it('webhook endpoint create, update, rotate, delete (module webhooks): webhook.* with before/after, never a signing secret', async () => {
        const url = 'http://127.0.0.1:9/audit-hook';
        const created = await call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url, event_types: ['role.deleted'] }, { userAgent: UA });
        expect(created.statusCode, created.body).toBe(201);
        const { id, secret } = created.json<{ id: string; secret: string }>();
        const createdEntry = await h.one('webhook.created', `webhook_endpoint:${id}`);
        expectShape(createdEntry);
        expect(createdEntry).toMatchObject({ org_id: orgId, actor: { type: 'user', id: owner.user.id, display: owner.email }, changes: { url: { after: url }, event_types: { after: ['role.deleted'] } } });

        const patched = await call('PATCH', `/v1/orgs/${orgId}/webhooks/${id}`, owner.token, { enabled: false });
        expect(patched.statusCode, patched.body).toBe(200);
        expect((await h.one('webhook.updated', `webhook_endpoint:${id}`)).changes).toEqual({ enabled: { before: true, after: false } });

        const rotated = await call('POST', `/v1/orgs/${orgId}/webhooks/${id}/rotate-secret`, owner.token);
        expect(rotated.statusCode, rotated.body).toBe(200);
        const newSecret = rotated.json<{ secret: string }>().secret;
        expect(await h.one('webhook.secret_rotated', `webhook_endpoint:${id}`)).toMatchObject({ org_id: orgId, actor: { id: owner.user.id } });

        expect((await call('DELETE', `/v1/orgs/${orgId}/webhooks/${id}`, owner.token)).statusCode).toBe(204);
        expect(await h.one('webhook.deleted', `webhook_endpoint:${id}`)).toMatchObject({ org_id: orgId, actor: { id: owner.user.id }, result: 'success' });
        const text = JSON.stringify(await h.entries({ target: `webhook_endpoint:${id}` }));
        for (const value of [secret, newSecret, 'whsec_']) expect(text).not.toContain(value);
      });
    });

    describe('the audit port', () => {
      it('drops secret-looking fields from changes (password, token, secret, hash, code, private key…), judging a dotted path by its last part', async () => {
        const id = await app.context.db.transaction((tx) =>
          app.context.audit.record(tx, {
            actor: { type: 'system' },
            action: 'test.secrets',
            changes: {
              password: { before: 'old pw', after: 'new pw' }, password_hash: { after: '$argon2id$…' }, refresh_token: { after: 'rt' }, client_secret: { after: 'cs' },
              recovery_code: { after: '123456' }, private_key: { after: 'pk' }, 'sms.auth_token': { after: 'tw' }, 'otp.length': { before: 6, after: 8 }, name: { before: 'A', after: 'B' },
            },
          }),
        );
        const [row] = await query<{ changes: Record<string, unknown> }>('SELECT changes FROM audit_events WHERE id = $1', [id]);
        expect(row!.changes).toEqual({ 'otp.length': { before: 6, after: 8 }, name: { before: 'A', after: 'B' } });
      });

      it('writes in the caller\'s transaction: a change that rolls back leaves no entry', async () => {
        const marker = `test.rolled_back_${randomBytes(4).toString('hex')}`;
        await expect(
          app.context.db.transaction(async (tx) => {
            await app.context.audit.record(tx, { actor: { type: 'system' }, action: marker });
            throw new Error('the change failed');
          }),
        ).rejects.toThrow('the change failed');
        expect(await query('SELECT id FROM audit_events WHERE action = $1', [marker])).toEqual([]);
      });
    });

    describe('platform administration', () => {
      it('PATCH /v1/admin/orgs/{id} (tier): org.tier_changed in that organization by the admin, with before/after', async () => {
        const admin = await h.platformAdmin();
        const owner = await h.signedIn('tier-owner');
        const orgId = (await h.createOrg(owner)).id;
        const res = await call('PATCH', `/v1/admin/orgs/${orgId}`, admin.token, { tier: 'starter' }, { ip: '198.51.100.30', userAgent: UA });
        expect(res.statusCode, res.body).toBe(200);
        const entry = await h.one('org.tier_changed', `org:${orgId}`);
        expectShape(entry);
        expect(entry).toMatchObject({ org_id: orgId, actor: { type: 'user', id: admin.id, display: admin.email }, changes: { tier: { before: 'free', after: 'starter' } } });
        expectFrom(entry, '198.51.100.30', res.headers['x-request-id']);
      });

      it('DELETE /v1/admin/communications/suppressions: communications.suppression_removed with the address masked; a refused removal (404) writes nothing', async () => {
        const admin = await h.platformAdmin();
        const address = `bounced-${randomBytes(4).toString('hex')}@example.test`;
        await app.context.communications.suppress('email', address, 'bounce');
        const res = await call('DELETE', `/v1/admin/communications/suppressions?channel=email&recipient=${encodeURIComponent(address)}`, admin.token, undefined, { ip: '198.51.100.31', userAgent: UA });
        expect(res.statusCode, res.body).toBe(204);
        const found = await h.entries({ action: 'communications.suppression_removed', actor: admin.id, ip: '198.51.100.31' });
        expect(found).toHaveLength(1);
        expectShape(found[0]!);
        expect(found[0]).toMatchObject({ org_id: null, actor: { type: 'user', id: admin.id, display: admin.email }, target: { type: 'suppression' } });
        expect(found[0]!.target!.id).toMatch(/^email:/);
        expect(found[0]!.target!.id).not.toContain(address.split('@')[0]);
        expectFrom(found[0]!, '198.51.100.31', res.headers['x-request-id']);

        expect((await call('DELETE', `/v1/admin/communications/suppressions?channel=email&recipient=${encodeURIComponent(address)}`, admin.token, undefined, { ip: '198.51.100.32' })).statusCode).toBe(404);
        expect(await h.entries({ ip: '198.51.100.32' })).toEqual([]);
      });

      it('PATCH /v1/admin/communications/settings: communications.settings_changed with the changed settings before/after', async () => {
        const admin = await h.platformAdmin();
        const res = await call('PATCH', '/v1/admin/communications/settings', admin.token, { channels: { sms: { enabled: false } } }, { ip: '198.51.100.33', userAgent: UA });
        expect(res.statusCode, res.body).toBe(200);
        const version = res.json<{ version: number }>().version;
        const entry = await h.one('communications.settings_changed', `communication_settings:${version}`);
        expectShape(entry);
        expect(entry).toMatchObject({ org_id: null, actor: { type: 'user', id: admin.id, display: admin.email } });
        expect(entry.changes).toEqual({ 'channels.sms.enabled': { before: true, after: false } });
        expectFrom(entry, '198.51.100.33', res.headers['x-request-id']);
      });

      it('exporting the audit log is itself audited: audit.exported by the admin, with the format', async () => {
        const admin = await h.platformAdmin();
        const res = await call('GET', '/v1/admin/audit-logs/export?format=csv&action=org.', admin.token, undefined, { ip: '198.51.100.34', userAgent: UA });
        expect(res.statusCode, res.body).toBe(200);
        const found = await h.entries({ action: 'audit.exported', ip: '198.51.100.34' });
        expect(found).toHaveLength(1);
        expect(found[0]).toMatchObject({ org_id: null, actor: { type: 'user', id: admin.id, display: admin.email }, target: null, changes: { format: { after: 'csv' } } });
        expectFrom(found[0]!, '198.51.100.34', res.headers['x-request-id']);
      });
    });
  });
});

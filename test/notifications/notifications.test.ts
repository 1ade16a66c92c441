import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { testClient, type Method, type Page, type Signed } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import type { NotificationBody as NotificationJson } from '../../src/modules/notifications/index.js';

/*
 * In-app notifications of the signed-in user (`/v1/me/notifications`): the list (newest first, cursor
 * pages, unread filter), the unread count, marking read (one, all), deleting; another user's id is a
 * 404 and is left untouched; and delivery through the real path (messenger → job → template → store).
 */

type Notifications = Page<NotificationJson>;

describe.each(engineCases())('in-app notifications on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let alice: Signed;
    let bob: Signed;
    const api = testClient(() => app);
    const { call } = api;
    async function ok<T>(method: Method, url: string, token: string, status = 200): Promise<T> {
      const res = await call(method, url, token);
      expect(res.statusCode, res.body).toBe(status);
      return (res.body ? res.json<T>() : undefined) as T;
    }
    /** Stores one through the messenger's entry point (what the in_app channel calls). */
    const store = async (userId: string, title: string, extra: { url?: string; category?: 'account' | 'security' | 'product' } = {}): Promise<string> =>
      app.context.recipients.storeInApp({ userId, category: extra.category ?? 'account', template: 'test.note', title, body: `body of ${title}`, url: extra.url ?? null });
    const rowOf = async (id: string) =>
      (await api.query<{ user_id: string; read_at: Date | null }>('SELECT user_id, read_at FROM notifications WHERE id = $1', [id]))[0] ?? null;

    beforeAll(async () => {
      app = await createEngineApp(engine);
      alice = await api.signedIn('alice');
      bob = await api.signedIn('bob');
    });
    afterAll(async () => app?.destroy());

    it('every route answers 401 without a token', async () => {
      const id = await store(alice.user.id, 'private');
      for (const [method, url] of [
        ['GET', '/v1/me/notifications'],
        ['GET', '/v1/me/notifications/unread-count'],
        ['GET', '/v1/me/notifications/stream'],
        ['POST', '/v1/me/notifications/read-all'],
        ['POST', `/v1/me/notifications/${id}/read`],
        ['DELETE', `/v1/me/notifications/${id}`],
      ] as const) {
        expectProblem(await call(method, url, null), 401, 'unauthorized');
        expectProblem(await call(method, url, 'not-a-token'), 401, 'invalid_token');
      }
      expect((await rowOf(id))?.read_at).toBeNull();
    });

    it('lists newest first with every field, in cursor pages that cover everything once', async () => {
      const user = await api.signedIn('pages');
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push(await store(user.user.id, `note ${i}`, i === 3 ? { url: 'https://app.example.test/orders/3', category: 'product' } : {}));
      const newestFirst = [...ids].reverse();

      const first = await ok<Notifications>('GET', '/v1/me/notifications', user.token);
      expect(first.next_cursor).toBeNull();
      expect(first.data.map((n) => n.id)).toEqual(newestFirst);
      const third = first.data.find((n) => n.id === ids[3])!;
      expect(third).toEqual({
        id: ids[3], category: 'product', title: 'note 3', body: 'body of note 3', url: 'https://app.example.test/orders/3', read_at: null, created_at: expect.any(String),
      });
      expect(new Date(third.created_at).toISOString()).toBe(third.created_at);

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Notifications = await ok<Notifications>('GET', `/v1/me/notifications?limit=3${cursor ? `&cursor=${cursor}` : ''}`, user.token);
        expect(page.data.length).toBeLessThanOrEqual(3);
        seen.push(...page.data.map((n) => n.id));
        cursor = page.next_cursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual(newestFirst);
      // Exactly a page's worth: no empty page after it.
      const exact = await ok<Notifications>('GET', '/v1/me/notifications?limit=7', user.token);
      expect(exact.data).toHaveLength(7);
      expect(exact.next_cursor).toBeNull();
    });

    it('bad list queries are 400 problems', async () => {
      for (const search of ['?limit=0', '?limit=101', '?limit=abc', '?cursor=com_00000000000000000000000000', '?cursor=ntf_short', '?unread=maybe', '?access_token=x']) {
        expectProblem(await call('GET', `/v1/me/notifications${search}`, alice.token), 400, 'validation_failed');
      }
    });

    it('unread filter and count follow reads; reading is idempotent and keeps the first read time', async () => {
      const user = await api.signedIn('reads');
      const ids = [await store(user.user.id, 'a'), await store(user.user.id, 'b'), await store(user.user.id, 'c')];
      expect(await ok<{ count: number }>('GET', '/v1/me/notifications/unread-count', user.token)).toEqual({ count: 3 });

      const read = await ok<NotificationJson>('POST', `/v1/me/notifications/${ids[1]}/read`, user.token);
      expect(read).toMatchObject({ id: ids[1], title: 'b', read_at: expect.any(String) });
      const again = await ok<NotificationJson>('POST', `/v1/me/notifications/${ids[1]}/read`, user.token);
      expect(again.read_at).toBe(read.read_at);
      expect(await ok<{ count: number }>('GET', '/v1/me/notifications/unread-count', user.token)).toEqual({ count: 2 });

      const unread = await ok<Notifications>('GET', '/v1/me/notifications?unread=true', user.token);
      expect(unread.data.map((n) => n.id)).toEqual([ids[2], ids[0]]);
      const all = await ok<Notifications>('GET', '/v1/me/notifications?unread=false', user.token);
      expect(all.data.map((n) => n.id)).toEqual([ids[2], ids[1], ids[0]]);
      expect(all.data[1]!.read_at).toBe(read.read_at);
      // Unread pages by cursor too.
      const page1 = await ok<Notifications>('GET', '/v1/me/notifications?unread=true&limit=1', user.token);
      expect(page1.data.map((n) => n.id)).toEqual([ids[2]]);
      const page2 = await ok<Notifications>('GET', `/v1/me/notifications?unread=true&limit=1&cursor=${page1.next_cursor}`, user.token);
      expect(page2.data.map((n) => n.id)).toEqual([ids[0]]);
      expect(page2.next_cursor).toBeNull();
    });

    it('read-all marks every unread one and says how many; a second time, none', async () => {
      const user = await api.signedIn('readall');
      const first = await store(user.user.id, 'one');
      await ok('POST', `/v1/me/notifications/${first}/read`, user.token);
      const firstReadAt = (await rowOf(first))!.read_at!.toISOString();
      await store(user.user.id, 'two');
      await store(user.user.id, 'three');
      const othersUnread = await store(alice.user.id, 'alice keeps hers unread');

      expect(await ok<{ updated: number }>('POST', '/v1/me/notifications/read-all', user.token)).toEqual({ updated: 2 });
      expect(await ok<{ count: number }>('GET', '/v1/me/notifications/unread-count', user.token)).toEqual({ count: 0 });
      expect((await ok<Notifications>('GET', '/v1/me/notifications?unread=true', user.token)).data).toEqual([]);
      expect((await rowOf(first))!.read_at!.toISOString()).toBe(firstReadAt);
      expect(await ok<{ updated: number }>('POST', '/v1/me/notifications/read-all', user.token)).toEqual({ updated: 0 });
      expect((await rowOf(othersUnread))!.read_at).toBeNull();
    });

    it('delete answers 204, then 404; the list no longer has it', async () => {
      const user = await api.signedIn('delete');
      const keep = await store(user.user.id, 'keep');
      const gone = await store(user.user.id, 'gone');
      const res = await call('DELETE', `/v1/me/notifications/${gone}`, user.token);
      expect(res.statusCode, res.body).toBe(204);
      expect(res.body).toBe('');
      expect(await rowOf(gone)).toBeNull();
      expectProblem(await call('DELETE', `/v1/me/notifications/${gone}`, user.token), 404, 'notification_not_found');
      expectProblem(await call('POST', `/v1/me/notifications/${gone}/read`, user.token), 404, 'notification_not_found');
      expect((await ok<Notifications>('GET', '/v1/me/notifications', user.token)).data.map((n) => n.id)).toEqual([keep]);
    });

    it("another user's notification is a 404 on read and delete, never listed or counted, and left untouched", async () => {
      const mine = await store(alice.user.id, 'for alice only');
      expectProblem(await call('POST', `/v1/me/notifications/${mine}/read`, bob.token), 404, 'notification_not_found');
      expectProblem(await call('DELETE', `/v1/me/notifications/${mine}`, bob.token), 404, 'notification_not_found');
      expect(await rowOf(mine)).toEqual({ user_id: alice.user.id, read_at: null });
      const bobs = await ok<Notifications>('GET', '/v1/me/notifications', bob.token);
      expect(bobs.data.map((n) => n.id)).not.toContain(mine);
      // Bob's read-all does not reach it either.
      await ok('POST', '/v1/me/notifications/read-all', bob.token);
      expect((await rowOf(mine))!.read_at).toBeNull();
      expect((await ok<Notifications>('GET', '/v1/me/notifications?limit=100', alice.token)).data.map((n) => n.id)).toContain(mine);
    });

    it('a malformed id is a 400 validation problem; a well-formed unknown one is a 404', async () => {
      for (const id of ['nope', 'ntf_123', 'usr_00000000000000000000000000', 'ntf_0000000000000000000000000U']) {
        expectProblem(await call('POST', `/v1/me/notifications/${id}/read`, alice.token), 400, 'validation_failed');
        expectProblem(await call('DELETE', `/v1/me/notifications/${id}`, alice.token), 400, 'validation_failed');
      }
      expectProblem(await call('POST', '/v1/me/notifications/ntf_00000000000000000000000000/read', alice.token), 404, 'notification_not_found');
      expectProblem(await call('DELETE', '/v1/me/notifications/ntf_00000000000000000000000000', alice.token), 404, 'notification_not_found');
    });

    it('without VAPID keys, push is not configured: the public key is null (browsers then offer no push)', async () => {
      const res = await call('GET', '/v1/push/vapid-public-key', null);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ public_key: null });
    });

    it('messenger.notify on the in_app channel stores the rendered template for the user, and the log points at it', async () => {
      const user = await api.signedIn('delivered');
      const logId = await app.context.messenger.notify({ channel: 'in_app', userId: user.user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: '203.0.113.9' } });
      const delivered = await waitFor(async () => (await ok<Notifications>('GET', '/v1/me/notifications', user.token)).data[0], 15_000, 'the in-app notification');
      expect(delivered).toMatchObject({ category: 'security', read_at: null, url: null });
      expect(delivered.title).toMatch(/password was changed/i);
      expect(delivered.body).toMatch(/password/i);
      expect(delivered.body).not.toContain('{{');
      const { status, provider, provider_message_id, recipient } = await api.logWhen(logId, ['sent'], 10_000);
      expect({ status, provider, provider_message_id, recipient }).toEqual({ status: 'sent', provider: 'in_app', provider_message_id: delivered.id, recipient: user.user.id });
      expect(await ok<{ count: number }>('GET', '/v1/me/notifications/unread-count', user.token)).toEqual({ count: 1 });
    });
  });
});

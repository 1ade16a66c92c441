import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, engineCases, type TestDatabase } from '../../../test/helpers/db.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { createPostgresDatabase, type Database } from '../../platform/db/database.js';
import { createJobs } from '../../platform/jobs/jobs.js';
import { createOidcAdapter, OIDC_CLEANUP_QUEUE, removeExpiredOidcModels, scheduleOidcCleanup, type OidcAdapterConstructor } from './oidc.adapter.js';

/*
 * The oidc-provider storage adapter against a migrated database, on each engine: the contract
 * oidc-provider relies on (upsert and find per model, lookups by user code and uid, consume,
 * destroy, revoke by grant, expiry), and on PostgreSQL a second instance reading what the first
 * wrote.
 */

const now = () => Math.floor(Date.now() / 1000);

describe.each(engineCases())('oidc-provider adapter on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let database: TestDatabase;
    let Adapter: OidcAdapterConstructor;

    beforeAll(async () => {
      database = await createTestDatabase(engine);
      Adapter = createOidcAdapter(database.db);
    });
    afterAll(async () => database?.destroy());

    it('upserts and finds by id within its model only; an upsert replaces the payload', async () => {
      const codes = new Adapter('AuthorizationCode');
      const tokens = new Adapter('AccessToken');
      await codes.upsert('code-1', { accountId: 'usr_1', grantId: 'grant-1', iat: now(), exp: now() + 60 }, 60);
      expect(await codes.find('code-1')).toEqual({ accountId: 'usr_1', grantId: 'grant-1', iat: expect.any(Number), exp: expect.any(Number) });
      expect(await tokens.find('code-1')).toBeUndefined();
      expect(await codes.find('nope')).toBeUndefined();

      await codes.upsert('code-1', { accountId: 'usr_2', grantId: 'grant-1' }, 60);
      expect(await codes.find('code-1')).toEqual({ accountId: 'usr_2', grantId: 'grant-1' });
    });

    it('finds a device code by its user code and a session by its uid', async () => {
      const device = new Adapter('DeviceCode');
      await device.upsert('dc-1', { userCode: 'WDJB-MJHT', grantId: 'grant-d' }, 600);
      expect(await device.findByUserCode('WDJB-MJHT')).toMatchObject({ userCode: 'WDJB-MJHT' });
      expect(await device.findByUserCode('XXXX-XXXX')).toBeUndefined();
      expect(await new Adapter('AuthorizationCode').findByUserCode('WDJB-MJHT')).toBeUndefined();

      const sessions = new Adapter('Session');
      await sessions.upsert('ses-1', { uid: 'uid-1', accountId: 'usr_1' }, 3600);
      expect(await sessions.findByUid('uid-1')).toMatchObject({ accountId: 'usr_1' });
      expect(await sessions.findByUid('uid-2')).toBeUndefined();
    });

    it('consume marks the instance consumed (seconds since the epoch) once, and a later upsert starts unconsumed', async () => {
      const codes = new Adapter('AuthorizationCode');
      await codes.upsert('code-c', { grantId: 'grant-c' }, 60);
      expect((await codes.find('code-c'))!.consumed).toBeUndefined();
      const before = now();
      await codes.consume('code-c');
      const first = (await codes.find('code-c'))!.consumed as number;
      expect(first).toBeGreaterThanOrEqual(before - 5);
      expect(first).toBeLessThanOrEqual(now() + 5);
      await codes.consume('code-c');
      expect((await codes.find('code-c'))!.consumed).toBe(first);
      // oidc-provider never stores `consumed` itself; an upsert carrying it does not mark the row.
      await codes.upsert('code-c', { grantId: 'grant-c', consumed: 123 }, 60);
      expect((await codes.find('code-c'))!.consumed).toBeUndefined();
    });

    it('destroy removes one instance; revokeByGrantId removes that grant\'s instances of its model and nothing else', async () => {
      const access = new Adapter('AccessToken');
      const refresh = new Adapter('RefreshToken');
      await access.upsert('at-1', { grantId: 'grant-r' }, 60);
      await access.upsert('at-2', { grantId: 'grant-r' }, 60);
      await access.upsert('at-3', { grantId: 'grant-other' }, 60);
      await refresh.upsert('rt-1', { grantId: 'grant-r' }, 60);

      await access.destroy('at-3');
      expect(await access.find('at-3')).toBeUndefined();

      await access.revokeByGrantId('grant-r');
      expect(await access.find('at-1')).toBeUndefined();
      expect(await access.find('at-2')).toBeUndefined();
      expect(await refresh.find('rt-1')).toMatchObject({ grantId: 'grant-r' });
      await refresh.revokeByGrantId('grant-r');
      expect(await refresh.find('rt-1')).toBeUndefined();
    });

    it('never answers an expired instance (by id, user code or uid), and the clean-up removes expired rows only', async () => {
      const device = new Adapter('DeviceCode');
      const sessions = new Adapter('Session');
      await device.upsert('dc-old', { userCode: 'OLDC-ODE1', uid: 'uid-old' }, 60);
      await sessions.upsert('ses-old', { uid: 'uid-old' }, 60);
      await sessions.upsert('ses-forever', { uid: 'uid-forever' }, 0);
      await database.db.sql.query(`UPDATE oidc_models SET expires_at = now() - interval '1 second' WHERE id IN ('dc-old', 'ses-old')`);
      expect(await device.find('dc-old')).toBeUndefined();
      expect(await device.findByUserCode('OLDC-ODE1')).toBeUndefined();
      expect(await sessions.findByUid('uid-old')).toBeUndefined();
      expect(await sessions.find('ses-forever')).toMatchObject({ uid: 'uid-forever' });

      const left = async () => (await database.db.sql.query<{ id: string }>(`SELECT id FROM oidc_models WHERE id IN ('dc-old', 'ses-old', 'ses-forever') ORDER BY id`)).rows.map((row) => row.id);
      expect(await left()).toEqual(['dc-old', 'ses-forever', 'ses-old']);
      expect(await removeExpiredOidcModels(database.db, 1)).toBeGreaterThanOrEqual(2);
      expect(await left()).toEqual(['ses-forever']);
    });

    it('the clean-up job is scheduled every ten minutes and removes expired rows when it runs', async () => {
      const jobs = createJobs(database.db);
      scheduleOidcCleanup(jobs, database.db);
      await jobs.start();
      try {
        expect(await jobs.schedules()).toContainEqual({ name: OIDC_CLEANUP_QUEUE, cron: '*/10 * * * *' });
        const interactions = new Adapter('Interaction');
        await interactions.upsert('int-old', { uid: 'int-old' }, 60);
        await interactions.upsert('int-live', { uid: 'int-live' }, 3600);
        await database.db.sql.query(`UPDATE oidc_models SET expires_at = now() - interval '1 minute' WHERE id = 'int-old'`);
        await jobs.enqueue(OIDC_CLEANUP_QUEUE, {});
        const left = async () => (await database.db.sql.query<{ id: string }>(`SELECT id FROM oidc_models WHERE id LIKE 'int-%' ORDER BY id`)).rows.map((row) => row.id);
        await waitFor(async () => (await left()).length === 1, 20_000, 'the clean-up job');
        expect(await left()).toEqual(['int-live']);
      } finally {
        await jobs.stop();
      }
    });

    it.skipIf(engine !== 'postgres')('a second instance on the same PostgreSQL finds, consumes and revokes what the first wrote', async () => {
      const second: Database = createPostgresDatabase({ url: database.url!, max: 2 });
      try {
        const first = new Adapter('AuthorizationCode');
        const other = new (createOidcAdapter(second))('AuthorizationCode');
        await first.upsert('code-x', { grantId: 'grant-x', accountId: 'usr_x' }, 60);
        expect(await other.find('code-x')).toMatchObject({ accountId: 'usr_x' });
        await other.consume('code-x');
        expect((await first.find('code-x'))!.consumed).toEqual(expect.any(Number));
        await other.revokeByGrantId('grant-x');
        expect(await first.find('code-x')).toBeUndefined();
      } finally {
        await second.close();
      }
    });
  });
});

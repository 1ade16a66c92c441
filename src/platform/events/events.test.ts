import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.js';
import { newId } from '../crypto/ids.js';
import { createAudit, createEvents, recordChange } from './index.js';

/*
 * recordChange: a change's audit entry and its outbox event, written together in the caller's
 * transaction (ARCHITECTURE rule 7), so they exist exactly when the change does.
 */

describe('recordChange', () => {
  let database: TestDatabase;
  const sinks = { audit: createAudit(), events: createEvents() };
  const rows = async (orgId: string) => ({
    audit: (await database.db.sql.query<{ id: string; action: string; actor_id: string | null; target_id: string | null; changes: unknown }>(
      'SELECT id, action, actor_id, target_id, changes FROM audit_events WHERE org_id = $1 ORDER BY id', [orgId],
    )).rows,
    events: (await database.db.sql.query<{ id: string; type: string; org_id: string | null; payload: unknown }>('SELECT id, type, org_id, payload FROM events WHERE org_id = $1 ORDER BY id', [orgId])).rows,
  });

  beforeAll(async () => {
    database = await createTestDatabase('pglite');
  });
  afterAll(async () => database?.destroy());

  it("writes the audit entry and the event in the caller's transaction; the event takes the entry's action and organization unless told otherwise", async () => {
    const orgId = newId('org');
    const ids = await database.db.transaction(async (tx) => {
      const first = await recordChange(tx, sinks, { actor: { type: 'system' }, orgId, action: 'thing.created', target: { type: 'thing', id: 'thi_1' } }, { data: { org_id: orgId, thing_id: 'thi_1' } });
      const second = await recordChange(
        tx, sinks,
        { actor: { type: 'system' }, orgId, action: 'thing.tier_changed', target: { type: 'thing', id: 'thi_1' }, changes: { tier: { before: 'free', after: 'pro' } } },
        { type: 'thing.updated', data: { org_id: orgId, changes: ['tier'] } },
      );
      return [first, second];
    });
    const { audit, events } = await rows(orgId);
    expect(audit).toEqual([
      { id: ids[0]!.auditId, action: 'thing.created', actor_id: null, target_id: 'thi_1', changes: null },
      { id: ids[1]!.auditId, action: 'thing.tier_changed', actor_id: null, target_id: 'thi_1', changes: { tier: { before: 'free', after: 'pro' } } },
    ]);
    expect(events).toEqual([
      { id: ids[0]!.eventId, type: 'thing.created', org_id: orgId, payload: { org_id: orgId, thing_id: 'thi_1' } },
      { id: ids[1]!.eventId, type: 'thing.updated', org_id: orgId, payload: { org_id: orgId, changes: ['tier'] } },
    ]);
  });

  it('leaves neither the entry nor the event when the transaction rolls back', async () => {
    const orgId = newId('org');
    await expect(
      database.db.transaction(async (tx) => {
        await recordChange(tx, sinks, { actor: { type: 'system' }, orgId, action: 'thing.deleted' }, { data: { org_id: orgId } });
        throw new Error('the change failed after it was recorded');
      }),
    ).rejects.toThrow('the change failed after it was recorded');
    expect(await rows(orgId)).toEqual({ audit: [], events: [] });
  });
});

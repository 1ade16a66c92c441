import type { Database } from '../../platform/db/database.js';
import type { Audit, Events } from '../../platform/events/index.js';
import { hashPassword } from '../../platform/crypto/passwords.js';
import { newId } from '../../platform/crypto/ids.js';
import { accountErrors } from './accounts.errors.js';
import { countPlatformAdmins, findUserByEmail, insertUser, isPlatformAdmin, promoteToPlatformAdmin } from './accounts.queries.js';
import type { UserRow } from './accounts.schema.js';
import { normaliseEmail } from './accounts.email.service.js';

/** Platform administrators: created on first start, by `npx tessera admin create`, and checked by guards. */
export interface AdminService {
  /**
   * Creates a platform administrator, or promotes the existing account with that email (its
   * password is then left as it is). Audited and published as `user.created` in one transaction.
   */
  createPlatformAdmin(input: { email: string; password: string }, actor?: { type: 'system' | 'user'; id?: string }): Promise<{ user: UserRow; created: boolean }>;
  /** On first start: creates the admin from BOOTSTRAP_ADMIN_* unless a platform admin already exists. */
  bootstrapAdmin(input: { email: string; password: string } | undefined): Promise<UserRow | null>;
  isPlatformAdmin(userId: string): Promise<boolean>;
}

export function createAdminService(deps: { db: Database; audit: Audit; events: Events }): AdminService {
  const { db, audit, events } = deps;
  const service: AdminService = {
    async createPlatformAdmin(input, actor = { type: 'system' }) {
      const email = normaliseEmail(input.email);
      if (input.password.length < 8) throw accountErrors.weak_password('The password must be at least 8 characters');
      const passwordHash = await hashPassword(input.password);
      return db.transaction(async (tx) => {
        const existing = await findUserByEmail(tx, email);
        if (existing) {
          if (!existing.isPlatformAdmin) {
            await promoteToPlatformAdmin(tx, existing.id);
            await audit.record(tx, {
              actor,
              action: 'user.promoted_to_platform_admin',
              target: { type: 'user', id: existing.id },
              changes: { is_platform_admin: { before: false, after: true } },
            });
          }
          return { user: { ...existing, isPlatformAdmin: true }, created: false };
        }
        const user = await insertUser(tx, { id: newId('usr'), email, passwordHash, isPlatformAdmin: true, emailVerified: true, passwordChangedAt: new Date() });
        await audit.record(tx, { actor, action: 'user.created', target: { type: 'user', id: user.id }, reason: 'platform admin' });
        await events.publish(tx, { type: 'user.created', data: { id: user.id, email: user.email, is_platform_admin: true } });
        return { user, created: true };
      });
    },

    async bootstrapAdmin(input) {
      if (!input) return null;
      if ((await countPlatformAdmins(db)) > 0) return null;
      return (await service.createPlatformAdmin(input)).user;
    },

    isPlatformAdmin: (userId) => isPlatformAdmin(db, userId),
  };
  return service;
}

import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit, Events } from '../../platform/events/index.js';
import { accountErrors } from './accounts.errors.js';
import { findUserById, updateUser, type UserRow } from './accounts.queries.js';

export interface ProfileChanges {
  name?: string | null;
  locale?: string | null;
  timezone?: string | null;
}

/** The user's own profile: name, locale, time zone. */
export interface ProfileService {
  getUser(userId: string): Promise<UserRow | null>;
  updateProfile(userId: string, changes: ProfileChanges, client: ClientInfo): Promise<UserRow>;
}

function profileProblems(changes: ProfileChanges): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (changes.timezone) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: changes.timezone });
    } catch {
      problems.push({ path: 'body.timezone', message: 'is not an IANA time zone (e.g. Europe/Paris)' });
    }
  }
  if (changes.locale) {
    try {
      Intl.getCanonicalLocales(changes.locale);
    } catch {
      problems.push({ path: 'body.locale', message: 'is not a BCP 47 language tag (e.g. en-GB)' });
    }
  }
  return problems;
}

export function createProfileService(deps: { db: Database; audit: Audit; events: Events }): ProfileService {
  const { db, audit, events } = deps;
  return {
    getUser: (userId) => findUserById(db, userId),

    async updateProfile(userId, changes, client) {
      const problems = profileProblems(changes);
      if (problems.length > 0) throw accountErrors.invalid_profile(problems.map((p) => `${p.path} ${p.message}`).join('; '), { errors: problems });
      return db.transaction(async (tx) => {
        const before = await findUserById(tx, userId);
        if (!before) throw accountErrors.invalid_credentials();
        const set: ProfileChanges = {};
        const diff: Record<string, { before: unknown; after: unknown }> = {};
        for (const field of ['name', 'locale', 'timezone'] as const) {
          if (changes[field] === undefined || changes[field] === before[field]) continue;
          set[field] = changes[field];
          diff[field] = { before: before[field], after: changes[field] };
        }
        if (Object.keys(set).length === 0) return before;
        const after = (await updateUser(tx, userId, set))!;
        await audit.record(tx, { actor: { type: 'user', id: userId, display: before.email }, action: 'user.updated', target: { type: 'user', id: userId }, changes: diff, context: client });
        await events.publish(tx, { type: 'user.updated', data: { id: userId, changes: Object.keys(diff) } });
        return after;
      });
    },
  };
}

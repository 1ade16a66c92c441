import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import { preferenceErrors } from './notifications.errors.js';
import { MESSAGE_CATEGORIES, type MessageCategory } from '../../platform/mail/index.js';
import type { UserDirectory } from '../accounts/index.js';
import { CHANNELS, type Channel } from '../communications/index.js';
import { listPreferences, upsertPreferences, type PreferenceRow } from './notifications.preferences.queries.js';

/** Every category × channel, on or off. `security` is always all on. */
export type Preferences = Record<MessageCategory, Record<Channel, boolean>>;
/** Any part of `Preferences`; what is not named keeps its current value. */
export type PreferencesPatch = Partial<Record<MessageCategory, Partial<Record<Channel, boolean>>>>;

/** What a signed unsubscribe link says (`notifications.unsubscribe.ts` signs and reads it). */
export interface UnsubscribeClaim {
  userId: string | null;
  /** The address, only when the mail did not go to a user. */
  recipient: string | null;
  category: Exclude<MessageCategory, 'security'>;
  issuedAt: number;
}

export type UnsubscribeOutcome =
  | { kind: 'user'; userId: string; category: UnsubscribeClaim['category'] }
  | { kind: 'recipient'; recipient: string; category: UnsubscribeClaim['category'] };

export interface PreferencesService {
  get(userId: string): Promise<Preferences>;
  /**
   * Merges `patch` into the user's preferences and returns the result. Turning any `security`
   * channel off is refused as a whole (422 security_required, nothing written). A change is audited.
   */
  update(userId: string, patch: PreferencesPatch, client: ClientInfo): Promise<Preferences>;
  /**
   * What a verified one-click unsubscribe token does: for a user, the category off on email (a
   * preference row, audited); for an address that belongs to no user, the address on the email
   * suppression list with reason `unsubscribed`. Idempotent.
   */
  unsubscribe(claim: UnsubscribeClaim, client: ClientInfo): Promise<UnsubscribeOutcome>;
}

export function defaultPreferences(): Preferences {
  return Object.fromEntries(MESSAGE_CATEGORIES.map((category) => [category, Object.fromEntries(CHANNELS.map((channel) => [channel, true]))])) as Preferences;
}

function merge(rows: PreferenceRow[]): Preferences {
  const preferences = defaultPreferences();
  for (const row of rows) {
    // Unknown or security rows (never written by us) change nothing: security stays on.
    if (row.category === 'security' || !(row.category in preferences)) continue;
    const category = preferences[row.category as MessageCategory];
    if (row.channel in category) category[row.channel as Channel] = row.enabled;
  }
  return preferences;
}

export function createPreferencesService(deps: {
  db: Database;
  /** The accounts module's directory (does the user of an unsubscribe link still exist). */
  users: Pick<UserDirectory, 'byId'>;
  audit: Audit;
  /** The communications module's suppression list (`communications.suppress`). */
  suppress: (channel: Channel, recipient: string, reason: string) => Promise<void>;
}): PreferencesService {
  const { db, audit } = deps;

  return {
    get: async (userId) => merge(await listPreferences(db, userId)),

    async update(userId, patch, client) {
      const refused = Object.entries(patch.security ?? {}).filter(([, enabled]) => enabled === false);
      if (refused.length > 0) {
        throw preferenceErrors.security_required('Security messages (sign-in alerts, password resets, verification) reach you on every channel; they cannot be turned off', {
          errors: refused.map(([channel]) => ({ path: `body.categories.security.${channel}`, message: 'must stay true' })),
        });
      }
      return db.transaction(async (tx) => {
        const before = merge(await listPreferences(tx, userId));
        const after = merge([]);
        const writes: PreferenceRow[] = [];
        const changes: Record<string, { before: boolean; after: boolean }> = {};
        for (const category of MESSAGE_CATEGORIES) {
          for (const channel of CHANNELS) {
            const wanted = category === 'security' ? true : patch[category]?.[channel];
            after[category][channel] = wanted ?? before[category][channel];
            if (wanted === undefined || category === 'security') continue;
            writes.push({ category, channel, enabled: wanted });
            if (wanted !== before[category][channel]) changes[`${category}.${channel}`] = { before: before[category][channel], after: wanted };
          }
        }
        if (Object.keys(changes).length === 0) return after;
        await upsertPreferences(tx, userId, writes);
        await audit.record(tx, {
          actor: { type: 'user', id: userId },
          action: 'notifications.preferences_changed',
          target: { type: 'user', id: userId },
          changes,
          context: client,
        });
        return after;
      });
    },

    async unsubscribe(claim, client) {
      const { category } = claim;
      if (!claim.userId) {
        await deps.suppress('email', claim.recipient!, 'unsubscribed');
        return { kind: 'recipient', recipient: claim.recipient!, category };
      }
      const userId = claim.userId;
      await db.transaction(async (tx) => {
        // A user deleted since the mail was sent receives nothing anyway.
        if (!(await deps.users.byId(userId, { tx }))) return;
        const [current] = (await listPreferences(tx, userId)).filter((row) => row.category === category && row.channel === 'email');
        if (current && !current.enabled) return;
        await upsertPreferences(tx, userId, [{ category, channel: 'email', enabled: false }]);
        await audit.record(tx, {
          actor: { type: 'user', id: userId },
          action: 'notifications.preferences_changed',
          target: { type: 'user', id: userId },
          reason: 'one-click unsubscribe link',
          changes: { [`${category}.email`]: { before: true, after: false } },
          context: client,
        });
      });
      return { kind: 'user', userId, category };
    },
  };
}

import type { ClientInfo } from '../../platform/http/client.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';

import { communicationErrors } from './communications.errors.js';
import { insertSettingsVersion, latestSettings, lockSettings } from './communications.settings.queries.js';

export { CHANNELS, type Channel, type ChannelSettings, type CommunicationSettings, type OtpSettings } from './communications.schema.js';
import { CHANNELS, type Channel, type ChannelSettings, type CommunicationSettings, type OtpSettings } from './communications.schema.js';

export interface SettingsVersion {
  settings: CommunicationSettings;
  version: number;
  updatedBy: string | null;
  updatedAt: Date;
}

/** In force until an admin changes something (version 0: never changed). */
export const DEFAULT_COMMUNICATION_SETTINGS: CommunicationSettings = {
  channels: {
    email: { enabled: true, rate_limit_per_recipient_per_hour: 20, security_rate_limit_per_purpose_per_hour: 10, rate_limit_per_minute: 600, fallback_channel: null },
    sms: { enabled: true, rate_limit_per_recipient_per_hour: 5, security_rate_limit_per_purpose_per_hour: 5, rate_limit_per_minute: 60, fallback_channel: 'email' },
    push: { enabled: true, rate_limit_per_recipient_per_hour: 30, security_rate_limit_per_purpose_per_hour: 10, rate_limit_per_minute: 600, fallback_channel: null },
    in_app: { enabled: true, rate_limit_per_recipient_per_hour: 100, security_rate_limit_per_purpose_per_hour: 20, rate_limit_per_minute: null, fallback_channel: null },
  },
  otp: { length: 6, expiry_minutes: 10, max_attempts: 5, resend_cooldown_seconds: 60 },
};

export type SettingsPatch = {
  channels?: Partial<Record<Channel, Partial<ChannelSettings>>>;
  otp?: Partial<OtpSettings>;
};

/** The settings with `patch` merged in, field by field; 422 for a fallback loop. */
export function mergeSettings(current: CommunicationSettings, patch: SettingsPatch): CommunicationSettings {
  const channels = Object.fromEntries(CHANNELS.map((channel) => [channel, { ...current.channels[channel], ...patch.channels?.[channel] }])) as Record<Channel, ChannelSettings>;
  const merged = { channels, otp: { ...current.otp, ...patch.otp } };
  for (const channel of CHANNELS) {
    const fallback = merged.channels[channel].fallback_channel;
    if (fallback === channel) {
      throw communicationErrors.invalid_settings(`${channel} cannot fall back to itself`, { errors: [{ path: `body.channels.${channel}.fallback_channel`, message: 'must name another channel' }] });
    }
    if (fallback && merged.channels[fallback].fallback_channel === channel) {
      throw communicationErrors.invalid_settings(`${channel} and ${fallback} would fall back to each other`, { errors: [{ path: `body.channels.${channel}.fallback_channel`, message: `${fallback} falls back to ${channel}` }] });
    }
  }
  return merged;
}

export interface SettingsService {
  /** The settings in force; read from the database at most once a second per instance. */
  current(): Promise<SettingsVersion>;
  /** Merges a change in as a new version (audited), in force at once here and within a second elsewhere. */
  update(patch: SettingsPatch, actor: { id: string }, client: ClientInfo): Promise<SettingsVersion>;
}

/** How long an instance trusts its copy: the bound on "in force everywhere". */
const FRESH_MS = 1000;

export function createSettingsService(deps: { db: Database; audit: Audit; now?: () => number }): SettingsService {
  const { db, audit } = deps;
  const now = deps.now ?? Date.now;
  let cached: { value: SettingsVersion; at: number } | null = null;

  async function load(handle: DbHandle): Promise<SettingsVersion> {
    const row = await latestSettings(handle);
    if (!row) return { settings: DEFAULT_COMMUNICATION_SETTINGS, version: 0, updatedBy: null, updatedAt: new Date(0) };
    // Stored versions are merged over the defaults, so settings added later get their default.
    return { settings: mergeSettings(DEFAULT_COMMUNICATION_SETTINGS, row.settings), version: row.version, updatedBy: row.updatedBy, updatedAt: row.updatedAt };
  }

  return {
    async current() {
      if (cached && now() - cached.at < FRESH_MS) return cached.value;
      const value = await load(db);
      cached = { value, at: now() };
      return value;
    },

    async update(patch, actor, client) {
      const value = await db.transaction(async (tx) => {
        // One writer at a time: versions are consecutive, and no change is merged over a stale copy.
        await lockSettings(tx);
        const before = await load(tx);
        const settings = mergeSettings(before.settings, patch);
        const row = await insertSettingsVersion(tx, { version: before.version + 1, settings, updatedBy: actor.id });
        await audit.record(tx, {
          actor: { type: 'user', id: actor.id },
          action: 'communications.settings_changed',
          target: { type: 'communication_settings', id: String(row.version) },
          context: client,
          changes: diff(before.settings, settings),
        });
        return { settings, version: row.version, updatedBy: row.updatedBy, updatedAt: row.updatedAt };
      });
      cached = { value, at: now() };
      return value;
    },
  };
}

/** `{ "channels.sms.enabled": { before, after } }` for every leaf that changed. */
function diff(before: CommunicationSettings, after: CommunicationSettings): Record<string, { before: unknown; after: unknown }> {
  const changes: Record<string, { before: unknown; after: unknown }> = {};
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      for (const key of Object.keys(b)) walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
    } else if (a !== b) changes[path] = { before: a, after: b };
  };
  walk(before, after, '');
  return changes;
}

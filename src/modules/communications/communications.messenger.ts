import type { Cache } from '../../platform/cache/cache.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import type { Jobs, QueueOptions } from '../../platform/jobs/jobs.js';
import type { SecretBox } from '../../platform/crypto/secret-box.js';
import { newId } from '../../platform/crypto/ids.js';
import { DeliveryError, createCircuitBreaker, describeFailure, isPermanent, type CircuitBreaker, type DeliveryReceipt } from '../../platform/delivery/index.js';
import type { MailTransport, MessageCategory } from '../../platform/mail/index.js';
import type { SmsProvider } from '../../platform/sms/index.js';
import type { PushProvider, PushTarget } from '../../platform/push/index.js';
import type { AppError } from '../../platform/http/errors.js';
import type { UserDirectory } from '../accounts/index.js';
import { communicationErrors } from './communications.errors.js';
import { findLog, findSuppression, insertLog, updateLog, type LogRow } from './communications.queries.js';
import type { Channel, CommunicationSettings, SettingsService } from './communications.settings.js';

/*
 * The one path every outgoing message takes:
 *   notify() → log entry (queued) + job, in the caller's transaction
 *   job → channel enabled? (security messages: else the fallback channel) → suppressed? → opted out?
 *       → rate limits → render the active template version → provider, behind a circuit breaker
 *       → the log entry moved at each step: sent, retrying, failed, or stopped with why.
 * A message is never dropped silently: every stop is a status with a reason. A flow that must answer
 * at once when an admin switched a channel off (OTP codes, the admin's test send) asks
 * `switchedOff()` first and, refused, logs the message as blocked_channel_disabled all the same.
 *
 * Rate limits keep security messages (verification, reset, magic link, codes, MFA recovery, lockout
 * and sign-in notices) out of reach of every other category: other messages share one budget per
 * recipient and channel; each security purpose (template) has its own, so invitations, resends or a
 * flood of one purpose never stop a password reset.
 */

export const DELIVER_QUEUE = 'communications.deliver';
const PURPOSE = 'communications-job';
/** A message still waiting for its provider after this long is given up (failed), not kept forever. */
const MAX_AGE_MS = 24 * 3600 * 1000;

/** Why a message was stopped before delivery (the log's `status`). */
export type BlockedStatus = 'blocked_channel_disabled' | 'suppressed' | 'opted_out' | 'rate_limited';

export interface RenderedMessage {
  /** Email subject; the title of push and in-app notifications. */
  subject: string | null;
  html: string | null;
  /** Plain-text email part; the SMS text; the body of push and in-app notifications. */
  text: string;
  /** Where a push or in-app notification leads, when the template names a page. */
  url?: string | null;
}

/** Renders a template's active version (the templates part of this module). */
export interface Renderer {
  /** The category of a known template; undefined for an unknown one. Synchronous: called inside business transactions. */
  categoryOf(template: string): MessageCategory | undefined;
  /**
   * The active version for (template, channel, locale), falling back to English, then to the email
   * version's text for channels without their own; null when the template does not exist.
   */
  render(input: { template: string; channel: Channel; locale: string | null; data: Record<string, unknown>; unsubscribeUrl: string | null }): Promise<RenderedMessage | null>;
}

/** The user-facing side (the notifications module): in-app store, push subscriptions, preferences, unsubscribe links. */
export interface Recipients {
  /** Stores an in-app notification and announces it to open streams; returns its id. */
  storeInApp(input: { userId: string; category: MessageCategory; template: string; title: string; body: string; url: string | null }): Promise<string>;
  pushTargets(userId: string): Promise<{ id: string; target: PushTarget }[]>;
  /** A subscription the push service no longer knows. */
  forgetPushTarget(id: string): Promise<void>;
  /** Whether the user lets `category` messages reach them on `channel` (never asked for `security`). */
  allows(userId: string, category: MessageCategory, channel: Channel): Promise<boolean>;
  /** A signed one-click unsubscribe URL for a non-security email. */
  unsubscribeUrl(input: { userId: string | null; recipient: string; category: MessageCategory }): string;
}

export interface NotifyInput {
  channel: Channel;
  template: string;
  data?: Record<string, unknown>;
  /** Address (email), E.164 number (sms); for push and in-app the user is the recipient. Default: the user's own. */
  to?: string;
  userId?: string;
  /** Default: the template's category, else `security`. */
  category?: MessageCategory;
  /** Default: the user's locale, else English. */
  locale?: string;
}

export interface Messenger {
  /** Logs and enqueues one message (inside `tx` when given: it exists only if that commits). Returns the log id. */
  notify(input: NotifyInput, options?: { tx?: DbHandle }): Promise<string>;
  /**
   * Whether an admin's channel switch would stop this message now: its channel is off and, for a
   * security message, no enabled fallback channel reaches the recipient. Null when it would go, else
   * the reason (as the log words it).
   */
  switchedOff(input: NotifyInput): Promise<string | null>;
  /**
   * Logs a message that a channel switch stopped before it was queued (blocked_channel_disabled,
   * with the reason), so the admin's log and statistics show it. Never inside a transaction: the
   * refusal that follows rolls the caller's back. Returns the log id.
   */
  logSwitchedOff(input: NotifyInput, reason: string): Promise<string>;
  /** The breakers, for health and tests: provider name → state. */
  breakers(): Record<string, string>;
}

/** How the channels reach a user (a row of the accounts module's directory). */
export interface Contact {
  id: string;
  email: string;
  emailVerified: boolean;
  phone: string | null;
  phoneVerified: boolean;
  locale: string | null;
}

/** The 422 of a message an admin's channel switch stopped; `reason` as `switchedOff()` words it. */
export function channelDisabled(reason: string, data?: Record<string, unknown>): AppError {
  return communicationErrors.channel_disabled(`${reason[0]!.toUpperCase()}${reason.slice(1)}`, data);
}

export interface MessengerDeps {
  db: Database;
  /** The accounts module's directory: the user an address belongs to, and how a user is reached. */
  users: Pick<UserDirectory, 'byId' | 'byContact'>;
  cache: Cache;
  jobs: Jobs;
  box: SecretBox;
  settings: SettingsService;
  renderer: Renderer;
  recipients: Recipients;
  email: MailTransport;
  sms: SmsProvider;
  push: PushProvider;
  from: string;
  breaker: { threshold: number; cooldownSeconds: number };
  queue?: Pick<QueueOptions, 'retryDelaySeconds' | 'retryBackoff' | 'pollingIntervalSeconds' | 'retryLimit'>;
  onCacheError?: (error: unknown) => void;
  now?: () => number;
}

interface DeliverJob {
  logId: string;
  /** The template data, sealed with TESSERA_SECRET (it may hold one-time tokens and codes). */
  sealed: string;
}

const normalise = (channel: Channel, recipient: string): string => (channel === 'email' ? recipient.trim().toLowerCase() : recipient.trim());

export function createMessenger(deps: MessengerDeps): Messenger {
  const { db, cache, jobs, box, settings, renderer, recipients } = deps;
  const now = deps.now ?? Date.now;
  const options = { retryLimit: 8, retryDelaySeconds: 15, retryBackoff: true, concurrency: 4, ...deps.queue };
  const breakers = new Map<string, CircuitBreaker>();
  const breakerFor = (name: string): CircuitBreaker => {
    let breaker = breakers.get(name);
    if (!breaker) {
      breaker = createCircuitBreaker({ name, threshold: deps.breaker.threshold, cooldownMs: deps.breaker.cooldownSeconds * 1000, now });
      breakers.set(name, breaker);
    }
    return breaker;
  };

  /**
   * Counts one message against a window; true when it is over the limit (null: no limit, nothing
   * counted). With `countOnly` the message is counted (others are held by the count) but never held.
   * Fails open when the cache does not answer.
   */
  async function over(key: string, limit: number | null, windowSeconds: number, countOnly = false): Promise<boolean> {
    if (limit === null) return false;
    try {
      const { value } = await cache.incr(key, windowSeconds);
      return !countOnly && value > limit;
    } catch (error) {
      deps.onCacheError?.(error);
      return false;
    }
  }

  /** Where a channel reaches a user, or null when it cannot. */
  function addressOn(channel: Channel, contact: Pick<Contact, 'email' | 'phone' | 'phoneVerified'> | null, userId: string | null): string | null {
    switch (channel) {
      case 'email':
        return contact?.email ?? null;
      case 'sms':
        return contact?.phoneVerified ? contact.phone : null;
      case 'push':
      case 'in_app':
        return userId;
    }
  }

  type Route = { stop: BlockedStatus; reason: string } | { channel: Channel; recipient: string; requestedChannel: Channel | null; reason: string | null };

  /** The user an address belongs to (email, or a verified phone number), for the channels that have addresses. */
  async function userIdOf(channel: Channel, recipient: string, handle?: DbHandle): Promise<string | null> {
    if (channel !== 'email' && channel !== 'sms') return null;
    return (await deps.users.byContact(channel, recipient, handle ? { tx: handle } : {}))?.id ?? null;
  }

  /**
   * The channel a message goes by under the admin's switches: its own when enabled; for a security
   * message on a disabled channel, the enabled fallback that reaches the recipient; else stopped.
   */
  async function route(
    current: CommunicationSettings, message: { channel: Channel; category: MessageCategory; recipient: string; userId: string | null },
  ): Promise<Route> {
    const { channel, category } = message;
    if (current.channels[channel].enabled) return { channel, recipient: message.recipient, requestedChannel: null, reason: null };
    const fallback = current.channels[channel].fallback_channel;
    if (category !== 'security') return { stop: 'blocked_channel_disabled', reason: `the ${channel} channel is disabled` };
    if (!fallback) return { stop: 'blocked_channel_disabled', reason: `the ${channel} channel is disabled and has no fallback channel` };
    if (!current.channels[fallback].enabled) return { stop: 'blocked_channel_disabled', reason: `the ${channel} channel is disabled and so is its fallback ${fallback}` };
    const userId = message.userId ?? (await userIdOf(channel, message.recipient));
    let address = addressOn(fallback, userId ? await deps.users.byId(userId) : null, userId);
    // Push reaches a user only through a browser that subscribed.
    if (address && fallback === 'push' && (await recipients.pushTargets(address)).length === 0) address = null;
    if (!address) return { stop: 'blocked_channel_disabled', reason: `the ${channel} channel is disabled and the recipient cannot be reached by its fallback ${fallback}` };
    return { channel: fallback, recipient: address, requestedChannel: channel, reason: `the ${channel} channel is disabled: sent by its fallback channel ${fallback}` };
  }

  async function admit(log: LogRow): Promise<Route> {
    const { settings: current } = await settings.current();
    const category = log.category as MessageCategory;
    const routed = await route(current, { channel: log.channel as Channel, category, recipient: log.recipient, userId: log.userId });
    if ('stop' in routed) return routed;
    const { channel, recipient } = routed;
    const rules = current.channels[channel];
    const key = normalise(channel, recipient);
    const suppressed = await findSuppression(db, channel, key);
    // Unsubscribing is a choice about everything but security mail: a verification or a reset still goes.
    if (suppressed && !(category === 'security' && suppressed.reason === 'unsubscribed')) {
      return { stop: 'suppressed', reason: `the recipient is on the ${channel} suppression list (${suppressed.reason})` };
    }
    if (category !== 'security' && log.userId && !(await recipients.allows(log.userId, category, channel))) {
      return { stop: 'opted_out', reason: `the user turned off ${category} messages on ${channel}` };
    }
    if (category === 'security') {
      // Each security purpose has a budget of its own: no other traffic (nor another purpose) can use it up.
      const limit = rules.security_rate_limit_per_purpose_per_hour;
      if (await over(`comm:${channel}:recipient:${key}:security:${log.template}`, limit, 3600)) {
        return { stop: 'rate_limited', reason: `more than ${limit} ${log.template} ${channel} messages to this recipient within an hour` };
      }
      // Counted in the channel's minute (other messages give way), held only by the security messages' own count.
      await over(`comm:${channel}:minute`, rules.rate_limit_per_minute, 60, true);
      if (await over(`comm:${channel}:minute:security`, rules.rate_limit_per_minute, 60)) {
        return { stop: 'rate_limited', reason: `more than ${rules.rate_limit_per_minute} security ${channel} messages within a minute` };
      }
      return routed;
    }
    if (await over(`comm:${channel}:recipient:${key}`, rules.rate_limit_per_recipient_per_hour, 3600)) {
      return { stop: 'rate_limited', reason: `more than ${rules.rate_limit_per_recipient_per_hour} ${channel} messages to this recipient within an hour` };
    }
    if (await over(`comm:${channel}:minute`, rules.rate_limit_per_minute, 60)) {
      return { stop: 'rate_limited', reason: `more than ${rules.rate_limit_per_minute} ${channel} messages within a minute` };
    }
    return routed;
  }

  /** Hands the rendered message to the channel's provider; push goes to the targets found beforehand. */
  async function send(
    log: LogRow, channel: Channel, message: RenderedMessage, unsubscribeUrl: string | null, pushTargets: { id: string; target: PushTarget }[],
  ): Promise<DeliveryReceipt & { provider: string }> {
    switch (channel) {
      case 'email': {
        const headers: Record<string, string> = {};
        if (unsubscribeUrl) {
          // RFC 8058 one-click unsubscribe: mail clients POST to the URL without opening a page.
          headers['List-Unsubscribe'] = `<${unsubscribeUrl}>`;
          headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
        }
        const receipt = await deps.email.deliver({
          id: log.id, from: deps.from, to: log.recipient, template: log.template, subject: message.subject ?? '', text: message.text,
          ...(message.html ? { html: message.html } : {}), ...(unsubscribeUrl ? { headers } : {}),
        });
        return { provider: deps.email.kind, ...receipt };
      }
      case 'sms':
        return { provider: deps.sms.kind, ...(await deps.sms.send({ id: log.id, to: log.recipient, text: message.text })) };
      case 'push': {
        const payload = JSON.stringify({ id: log.id, title: message.subject, body: message.text, url: message.url ?? null, category: log.category });
        let delivered: DeliveryReceipt | null = null;
        let lastError: unknown = null;
        for (const { id, target } of pushTargets) {
          try {
            // One device is enough to call the message sent; every other device still gets it.
            const receipt = await deps.push.send({ id: log.id, target, payload, ttlSeconds: 24 * 3600, urgency: log.category === 'security' ? 'high' : 'normal' });
            delivered ??= receipt;
          } catch (error) {
            // Only "gone" (404/410) means the subscription is dead; other refusals are about this message or our keys.
            if (error instanceof DeliveryError && (error.status === 404 || error.status === 410)) await recipients.forgetPushTarget(id);
            // A device that may come back outweighs one that is gone: the message is then retried.
            if (lastError === null || !isPermanent(error)) lastError = error;
          }
        }
        if (!delivered) throw lastError;
        return { provider: deps.push.kind, ...delivered };
      }
      case 'in_app': {
        const id = await recipients.storeInApp({
          userId: log.recipient, category: log.category as MessageCategory, template: log.template, title: message.subject ?? log.template, body: message.text, url: message.url ?? null,
        });
        return { provider: 'in_app', providerMessageId: id };
      }
    }
  }

  const providerName = (channel: Channel): string =>
    channel === 'email' ? `email:${deps.email.kind}` : channel === 'sms' ? `sms:${deps.sms.kind}` : channel === 'push' ? `push:${deps.push.kind}` : 'in_app';

  jobs.define<DeliverJob>(
    DELIVER_QUEUE,
    async (job, { retryCount }) => {
      let log = await findLog(db, job.logId);
      // Delivered, stopped or given up already (a duplicate job, or a retry of one that finished).
      if (!log || !['queued', 'sending', 'retrying'].includes(log.status)) return;
      if (log.status === 'queued') {
        const admission = await admit(log);
        if ('stop' in admission) {
          await updateLog(db, log.id, { status: admission.stop, reason: admission.reason });
          return;
        }
        const changes = { status: 'sending', channel: admission.channel, recipient: admission.recipient, requestedChannel: admission.requestedChannel, reason: admission.reason };
        await updateLog(db, log.id, changes);
        log = { ...log, ...changes };
      } else if (!(await settings.current()).settings.channels[log.channel as Channel].enabled) {
        // Switched off while the message waited for a retry: an admin's switch stops what is queued too.
        await updateLog(db, log.id, { status: 'blocked_channel_disabled', reason: `the ${log.channel} channel was disabled while the message waited to be retried` });
        return;
      }
      const channel = log.channel as Channel;
      const provider = providerName(channel);
      // Push needs somewhere to go: without a subscription nothing can be tried, now or later.
      const pushTargets = channel === 'push' ? await recipients.pushTargets(log.recipient) : [];
      if (channel === 'push' && pushTargets.length === 0) {
        await updateLog(db, log.id, { status: 'failed', error: 'the user has no push subscription' });
        return;
      }
      const breaker = channel === 'in_app' ? null : breakerFor(provider);
      if (breaker && !breaker.allow()) {
        if (now() - log.createdAt.getTime() > MAX_AGE_MS) {
          await updateLog(db, log.id, { status: 'failed', error: `the ${breaker.name} provider stayed unavailable for a day: given up` });
          return;
        }
        // The provider is down: the message waits in the queue (a new job) without spending an attempt.
        // The new job and the log move together: a failure here retries this job, never leaves two.
        const wait = Math.ceil(breaker.retryAfterMs() / 1000) + Math.floor(Math.random() * 3);
        const waiting = log;
        await db.transaction(async (tx) => {
          await jobs.enqueue(DELIVER_QUEUE, job, { tx, startAfterSeconds: Math.max(1, wait) });
          await updateLog(tx, waiting.id, { status: 'retrying', error: `the ${breaker.name} provider is unavailable (circuit open): waiting` });
        });
        return;
      }
      // Every send the breaker allowed reports to it: success, failure, or released (it said nothing
      // about the provider), so a half-open trial is never left hanging.
      let reported = false;
      try {
        const data = JSON.parse(box.open(job.sealed, PURPOSE)) as Record<string, unknown>;
        const category = log.category as MessageCategory;
        const unsubscribeUrl = channel === 'email' && category !== 'security' ? recipients.unsubscribeUrl({ userId: log.userId, recipient: log.recipient, category }) : null;
        const message = await renderer.render({ template: log.template, channel, locale: log.locale, data, unsubscribeUrl });
        if (!message) {
          await updateLog(db, log.id, { status: 'failed', error: `no template ${log.template} for the ${channel} channel` });
          return;
        }
        const attempts = log.attempts + 1;
        let receipt: DeliveryReceipt & { provider: string };
        try {
          receipt = await send(log, channel, message, unsubscribeUrl, pushTargets);
        } catch (error) {
          const permanent = isPermanent(error);
          if (!permanent && breaker) {
            breaker.failure();
            reported = true;
          }
          const final = permanent || retryCount >= options.retryLimit;
          await updateLog(db, log.id, { status: final ? 'failed' : 'retrying', attempts, provider: provider.split(':').pop()!, error: describeFailure(error) });
          if (final) return;
          throw error;
        }
        if (breaker) {
          breaker.success();
          reported = true;
        }
        await updateLog(db, log.id, {
          status: 'sent', attempts, error: null, provider: receipt.provider, providerMessageId: receipt.providerMessageId ?? null,
          cost: receipt.cost?.amount ?? null, costCurrency: receipt.cost?.currency ?? null,
        });
      } finally {
        if (!reported) breaker?.release();
      }
    },
    options,
  );

  /** Who and where a message is for, as its log entry records it. */
  async function addressed(input: NotifyInput, handle?: DbHandle): Promise<{ recipient: string; userId: string | null; locale: string | null; category: MessageCategory }> {
    const { channel } = input;
    let userId = input.userId ?? null;
    let recipient = input.to ?? null;
    // A flow that names only an address (a mail to a sign-up's address) still links the log to its user.
    if (!userId && recipient) userId = await userIdOf(channel, recipient, handle);
    const contact = userId ? await deps.users.byId(userId, handle ? { tx: handle } : {}) : null;
    recipient ??= addressOn(channel, contact, userId);
    if (!recipient) throw new Error(`communications: no ${channel} recipient for ${input.template}`);
    const category = input.category ?? renderer.categoryOf(input.template) ?? 'security';
    return { recipient, userId, locale: input.locale ?? contact?.locale ?? null, category };
  }

  return {
    async notify(input, notifyOptions = {}) {
      const { recipient, userId, locale, category } = await addressed(input, notifyOptions.tx);
      const id = newId('com');
      await insertLog(notifyOptions.tx ?? db, { id, channel: input.channel, template: input.template, category, recipient, userId, locale, status: 'queued' });
      await jobs.enqueue<DeliverJob>(DELIVER_QUEUE, { logId: id, sealed: box.seal(JSON.stringify(input.data ?? {}), PURPOSE) }, notifyOptions.tx ? { tx: notifyOptions.tx } : {});
      return id;
    },

    async switchedOff(input) {
      const { settings: current } = await settings.current();
      if (current.channels[input.channel].enabled) return null;
      const { recipient, userId, category } = await addressed(input);
      const routed = await route(current, { channel: input.channel, category, recipient, userId });
      return 'stop' in routed ? routed.reason : null;
    },

    async logSwitchedOff(input, reason) {
      const { recipient, userId, locale, category } = await addressed(input);
      const id = newId('com');
      await insertLog(db, { id, channel: input.channel, template: input.template, category, recipient, userId, locale, status: 'blocked_channel_disabled', reason });
      return id;
    },
    breakers: () => Object.fromEntries([...breakers].map(([name, breaker]) => [name, breaker.state()])),
  };
}

import { randomBytes, randomInt } from 'node:crypto';
import { expect, inject } from 'vitest';
import { createRedisCache } from '../../src/platform/cache/index.js';
import type { OtpLimits } from '../../src/modules/otp/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';
import type { Engine } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { waitForMail } from '../helpers/outbox.js';

/*
 * Shared by the OTP, phone and MFA-by-OTP suites: an app per engine (PGlite + in-process cache,
 * PostgreSQL + Redis) with the OTP limits of the test's choice, and on top of the shared test client
 * the OTP routes (from a client address of the test's choice), the admin settings, and the codes as
 * they arrive: email in the development mail outbox, SMS in the development outbox.
 */

export interface SentBody {
  otp_id: string;
  expires_at: string;
  channel: 'email' | 'sms';
}

export interface OtpRowDb extends Record<string, unknown> {
  id: string;
  purpose: string;
  requested_channel: string;
  channel: string;
  recipient: string;
  user_id: string | null;
  code_hash: string;
  attempts: number;
  max_attempts: number;
  expires_at: Date;
  consumed_at: Date | null;
  ip: string | null;
}

export async function appOn(engine: Engine, otpLimits?: Partial<OtpLimits>): Promise<TestApp> {
  const build = otpLimits ? { otpLimits } : {};
  if (engine === 'pglite') return createTestApp({ engine, build });
  const { redisUrl } = inject('services');
  const cache = await createRedisCache(redisUrl!, { prefix: `test:${randomBytes(6).toString('hex')}:` });
  return createTestApp({ engine, build: { ...build, cache } });
}

/** A unique E.164 number in the +1 555 range. */
export const uniquePhone = (): string => `+1555${String(randomInt(10_000_000)).padStart(7, '0')}`;

/** The shared test client of one app, with the OTP routes (from a fresh client address per call unless `ip` is given: the per-IP limit is tested on purpose only). */
export function harness(getApp: () => TestApp) {
  const app = () => getApp();
  const api = testClient(getApp);
  const { call, query } = api;

  const send = (body: Record<string, unknown>, ip?: string) => call('POST', '/v1/otp/send', null, body, { ip });
  async function sendOk(body: Record<string, unknown>, ip?: string): Promise<SentBody> {
    const res = await send(body, ip);
    expect(res.statusCode, res.body).toBe(202);
    return res.json<SentBody>();
  }
  const verify = (body: Record<string, unknown>, ip?: string) => call('POST', '/v1/otp/verify', null, body, { ip });

  const otpRow = async (id: string): Promise<OtpRowDb | undefined> => (await query<OtpRowDb>('SELECT * FROM otp_codes WHERE id = $1', [id]))[0];
  const otpRowsFor = (recipient: string) => query<OtpRowDb>('SELECT * FROM otp_codes WHERE recipient = $1 ORDER BY id', [recipient.toLowerCase()]);

  /** The text of the newest SMS to `phone` in the development outbox, after `afterId` when given. */
  async function waitForSms(phone: string, afterId = ''): Promise<{ id: string; text: string }> {
    return waitFor(async () => {
      const rows = await query<{ id: string; text: string }>("SELECT id, text FROM dev_outbox WHERE channel = 'sms' AND recipient = $1 AND id > $2 ORDER BY id DESC LIMIT 1", [phone, afterId]);
      return rows[0];
    }, 10_000, `an SMS to ${phone}`);
  }
  const smsCount = async (phone: string): Promise<number> =>
    Number((await query<{ n: string }>("SELECT count(*) AS n FROM dev_outbox WHERE channel = 'sms' AND recipient = $1", [phone]))[0]!.n);

  /** The code of an otp.code mail to `to` (the newest, after `after` when given). */
  async function mailedCode(to: string, length = 6, after?: Date): Promise<string> {
    const mail = await waitForMail(app(), { to, template: 'otp.code', ...(after ? { after } : {}) });
    return codeIn(mail.text, length);
  }
  async function textedCode(phone: string, length = 6, afterId = ''): Promise<string> {
    return codeIn((await waitForSms(phone, afterId)).text, length);
  }

  async function patchSettings(adminToken: string, body: Record<string, unknown>): Promise<void> {
    const res = await call('PATCH', '/v1/admin/communications/settings', adminToken, body);
    expect(res.statusCode, res.body).toBe(200);
  }

  /** Gives a user a verified phone directly (set-up for tests whose subject is not phone verification). */
  async function givePhone(userId: string, phone: string): Promise<void> {
    await query('UPDATE users SET phone = $2, phone_verified = true WHERE id = $1', [userId, phone]);
  }

  return { ...api, send, sendOk, verify, otpRow, otpRowsFor, waitForSms, smsCount, mailedCode, textedCode, patchSettings, givePhone };
}

/** The one run of exactly `length` digits in a delivered text. */
export function codeIn(text: string, length: number): string {
  const matches = text.match(new RegExp(`(?<![0-9])[0-9]{${length}}(?![0-9])`, 'g')) ?? [];
  const unique = [...new Set(matches)];
  if (unique.length !== 1) throw new Error(`expected one ${length}-digit code in:\n${text}`);
  return unique[0]!;
}

/** A code of the same length that is not `code`. */
export function otherCode(code: string): string {
  const last = Number(code.at(-1));
  return code.slice(0, -1) + String((last + 1) % 10);
}

/**
 * The default `otp.code` template is being added to the database templates; when this build does
 * not render it yet, register a stand-in through what the templates object offers. Returns true
 * when it had to.
 */
export async function ensureOtpTemplate(app: TestApp): Promise<boolean> {
  const templates = app.context.templates as unknown as {
    render(input: Record<string, unknown>): Promise<unknown>;
    register?: (name: string, template: (data: Record<string, unknown>) => { subject: string; text: string }, options?: { category?: string }) => void;
  };
  const data = { code: '123456', expires_minutes: 10, purpose: 'login' };
  const rendered = await templates.render({ template: 'otp.code', channel: 'email', locale: null, data, unsubscribeUrl: null }).catch(() => null);
  if (rendered) return false;
  if (!templates.register) throw new Error('otp.code does not render and the templates cannot register one');
  templates.register('otp.code', (d) => ({ subject: 'Your verification code', text: `Your code:\n\n    ${String(d.code)}\n\nIt expires in ${String(d.expires_minutes)} minutes.` }), { category: 'security' });
  return true;
}

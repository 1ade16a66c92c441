import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit, Events } from '../../platform/events/index.js';
import type { UserDirectory } from '../accounts/index.js';
import { maskRecipient } from '../communications/index.js';
import { otpErrors } from './otp.errors.js';
import { failureProblem, type OtpService, type SentOtp } from './otp.service.js';

/*
 * A user's phone number (`/v1/me/phone`): set only once proven by a `verify_phone` code sent by
 * SMS to it. The code is bound to the user who asked (its HMAC binding and its user_id), so it
 * cannot verify the number for anyone else, nor be used at `/v1/otp/verify`. A number verified by
 * one account cannot be verified by another (409 once the code proved it): a verified phone is a
 * way to reach, and to sign in to, one account. The user's row is written by the accounts module's
 * directory, in this service's transaction with its audit entry and event.
 */

/** A user as the accounts directory answers it. */
type UserRow = NonNullable<Awaited<ReturnType<UserDirectory['byId']>>>;

export interface PhoneService {
  /** Sends a verify_phone code by SMS (no fallback: a code by email would not prove the phone). */
  request(userId: string, phone: string, client: ClientInfo): Promise<SentOtp>;
  /** Checks the code and sets the number as the user's verified phone. */
  confirm(userId: string, input: { otpId: string; code: string }, client: ClientInfo): Promise<UserRow>;
  remove(userId: string, client: ClientInfo): Promise<void>;
}

const binding = (userId: string): string => `user:${userId}`;

export function createPhoneService(deps: { db: Database; users: Pick<UserDirectory, 'setVerifiedPhone' | 'clearPhone'>; audit: Audit; events: Events; otp: OtpService }): PhoneService {
  const { db, users, audit, events, otp } = deps;

  return {
    request(userId, phone, client) {
      return otp.send({ channel: 'sms', to: phone, purpose: 'verify_phone', ip: client.ip, userId, binding: binding(userId) });
    },

    async confirm(userId, input, client) {
      const result = await otp.check({ otpId: input.otpId, code: input.code, purpose: 'verify_phone', userId, binding: binding(userId) });
      if (!result.ok) throw failureProblem(result);
      const phone = result.recipient;
      return db.transaction(async (tx) => {
        const changed = await users.setVerifiedPhone(tx, userId, phone);
        if (changed === 'taken') throw otpErrors.phone_in_use();
        if (!changed) throw new Error('phone: the user vanished');
        const { before, after: user } = changed;
        await audit.record(tx, {
          actor: { type: 'user', id: userId, display: before.email },
          action: 'user.phone_verified',
          target: { type: 'user', id: userId },
          context: client,
          changes: { phone: { before: before.phone ? maskRecipient(before.phone) : null, after: maskRecipient(phone) } },
        });
        await events.publish(tx, { type: 'user.phone_verified', data: { id: userId } });
        return user;
      });
    },

    async remove(userId, client) {
      await db.transaction(async (tx) => {
        const cleared = await users.clearPhone(tx, userId);
        if (!cleared?.before.phone) throw otpErrors.phone_not_found();
        const { before } = cleared;
        await audit.record(tx, {
          actor: { type: 'user', id: userId, display: before.email },
          action: 'user.phone_removed',
          target: { type: 'user', id: userId },
          context: client,
          changes: { phone: { before: maskRecipient(before.phone!), after: null } },
        });
        await events.publish(tx, { type: 'user.phone_removed', data: { id: userId } });
      });
    },
  };
}

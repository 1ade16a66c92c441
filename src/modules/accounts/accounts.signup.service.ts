import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit, Events } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import { hashPassword } from '../../platform/crypto/passwords.js';
import { newId } from '../../platform/crypto/ids.js';
import { findUserByEmail, insertUser, type UserRow } from './accounts.queries.js';
import { normaliseEmail, type EmailService } from './accounts.email.service.js';
import type { PasswordService } from './accounts.password.service.js';

export interface SignupInput {
  email: string;
  password: string;
  name?: string | null;
  /** BCP 47; stored in its canonical form, or not at all when it is not a language tag. */
  locale?: string;
}

function canonicalLocale(locale: string | undefined): string | null {
  if (!locale) return null;
  try {
    return Intl.getCanonicalLocales(locale)[0] ?? null;
  } catch {
    return null;
  }
}

export interface SignupService {
  /** Creates the account and mails a verification; for a taken address answers the same and mails the owner. */
  signup(input: SignupInput, client: ClientInfo): Promise<UserRow>;
}

export function createSignupService(deps: {
  db: Database;
  audit: Audit;
  events: Events;
  mail: Mail;
  emails: Pick<EmailService, 'sendVerification'>;
  passwords: Pick<PasswordService, 'assertPolicy'>;
}): SignupService {
  const { db, audit, events, mail } = deps;
  return {
    async signup(input, client) {
      const email = normaliseEmail(input.email);
      deps.passwords.assertPolicy(input.password, email);
      // Hash before looking: a taken address costs the same time as a new one.
      const passwordHash = await hashPassword(input.password);
      return db.transaction(async (tx) => {
        const existing = await findUserByEmail(tx, email);
        if (existing) {
          await mail.send({ to: existing.email, template: 'accounts.signup_existing', data: {} }, { tx });
          await audit.record(tx, { actor: { type: 'user', display: email }, action: 'user.signup_existing', target: { type: 'user', id: existing.id }, result: 'failure', reason: 'email already registered', context: client });
          // The answer a new account would get, for an account that does not exist.
          const now = new Date();
          return { ...existing, id: newId('usr'), email, name: input.name ?? null, emailVerified: false, locale: null, timezone: null, phone: null, phoneVerified: false, createdAt: now, updatedAt: now };
        }
        const user = await insertUser(tx, { id: newId('usr'), email, passwordHash, name: input.name ?? null, locale: canonicalLocale(input.locale), passwordChangedAt: new Date() });
        await audit.record(tx, { actor: { type: 'user', id: user.id, display: email }, action: 'user.signed_up', target: { type: 'user', id: user.id }, context: client });
        await events.publish(tx, { type: 'user.created', data: { id: user.id, email: user.email, name: user.name } });
        await deps.emails.sendVerification(user, { tx });
        return user;
      });
    },
  };
}

/*
 * What every message provider (email, SMS, push) has in common: what a send returns, how a failure
 * says whether trying again can help, and the circuit breaker that keeps a broken provider from
 * being hammered while its messages wait in the queue.
 */

/** What a provider said about an accepted message. */
export interface DeliveryReceipt {
  /** The provider's id of the message (Resend's email id, Twilio's `SM…` sid), used by its delivery callbacks. */
  providerMessageId?: string | null;
  /** What the provider charged, when it says so at send time. */
  cost?: { amount: string; currency: string } | null;
}

/**
 * A failed send. `permanent` failures (a rejected address, a 4xx other than 408/429, an SMTP 5xx)
 * are not retried: sending the same message again would fail the same way.
 */
export class DeliveryError extends Error {
  readonly permanent: boolean;
  readonly status: number | undefined;
  constructor(message: string, options: { permanent: boolean; status?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeliveryError';
    this.permanent = options.permanent;
    this.status = options.status;
  }
}

export function isPermanent(error: unknown): boolean {
  return error instanceof DeliveryError && error.permanent;
}

/** An HTTP status from a provider's API: whether the same request could succeed later. */
export function permanentHttpStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 409 && status !== 425 && status !== 429;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreaker {
  readonly name: string;
  state(): BreakerState;
  /**
   * Whether a send may be tried now. Closed: yes. Open: no, until the cool-down has passed; then
   * one trial is let through (half-open) and the others keep waiting until it reports.
   */
  allow(): boolean;
  /** Milliseconds until a trial may be let through (0 when allowed now). */
  retryAfterMs(): number;
  success(): void;
  /** A failure counts when the provider is at fault (not a permanent refusal of one message). */
  failure(): void;
  /**
   * Ends a send that was allowed but tells nothing about the provider (it never reached it, or the
   * provider refused that one message for good): a half-open trial is given back for the next message.
   */
  release(): void;
}

export function createCircuitBreaker(options: { name: string; threshold: number; cooldownMs: number; now?: () => number }): CircuitBreaker {
  const now = options.now ?? Date.now;
  let failures = 0;
  let openedAt: number | null = null;
  let trialAt: number | null = null;
  // A trial that never reports (its process died) must not block the provider forever.
  const trialExpired = (): boolean => trialAt !== null && now() - trialAt > options.cooldownMs;
  return {
    name: options.name,
    state() {
      if (openedAt === null) return 'closed';
      return now() - openedAt >= options.cooldownMs ? 'half_open' : 'open';
    },
    allow() {
      if (openedAt === null) return true;
      if (now() - openedAt < options.cooldownMs) return false;
      if (trialAt !== null && !trialExpired()) return false;
      trialAt = now();
      return true;
    },
    retryAfterMs() {
      if (openedAt === null) return 0;
      const waited = now() - openedAt;
      if (waited < options.cooldownMs) return options.cooldownMs - waited;
      return trialAt !== null && !trialExpired() ? options.cooldownMs - (now() - trialAt) : 0;
    },
    success() {
      failures = 0;
      openedAt = null;
      trialAt = null;
    },
    failure() {
      failures += 1;
      trialAt = null;
      if (openedAt !== null || failures >= options.threshold) openedAt = now();
    },
    release() {
      trialAt = null;
    },
  };
}

/** A short, secret-free description of a failure for the communication log. */
export function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').slice(0, 500);
}

import { describe, expect, it } from 'vitest';
import { createCircuitBreaker, DeliveryError, describeFailure, isPermanent, permanentHttpStatus } from './index.js';

/*
 * What every provider shares: which HTTP answers are worth retrying, and the circuit breaker that
 * keeps a broken provider from being hammered. The breaker takes its clock as an argument, so these
 * tests move time by hand instead of waiting.
 */

describe('permanentHttpStatus', () => {
  it('a 4xx refusal is permanent, except timeouts, conflicts, too-early and rate limits', () => {
    for (const status of [400, 401, 403, 404, 405, 410, 413, 415, 422, 499]) expect(permanentHttpStatus(status), String(status)).toBe(true);
    for (const status of [408, 409, 425, 429]) expect(permanentHttpStatus(status), String(status)).toBe(false);
  });

  it('server errors and anything outside 4xx are worth another try', () => {
    for (const status of [200, 202, 301, 399, 500, 502, 503, 504, 599, 0]) expect(permanentHttpStatus(status), String(status)).toBe(false);
  });
});

describe('DeliveryError', () => {
  it('carries whether it is permanent, the status and the cause', () => {
    const cause = new Error('socket hang up');
    const error = new DeliveryError('mailbox unavailable', { permanent: true, status: 550, cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'DeliveryError', message: 'mailbox unavailable', permanent: true, status: 550 });
    expect(error.cause).toBe(cause);
    expect(isPermanent(error)).toBe(true);
    const temporary = new DeliveryError('try again later', { permanent: false, status: 451 });
    expect(isPermanent(temporary)).toBe(false);
    expect(temporary.status).toBe(451);
    expect('cause' in temporary).toBe(false);
  });

  it('only a DeliveryError can be permanent: other errors are retried', () => {
    expect(isPermanent(Object.assign(new Error('x'), { permanent: true }))).toBe(false);
    expect(isPermanent({ permanent: true })).toBe(false);
    expect(isPermanent(null)).toBe(false);
    expect(isPermanent('550')).toBe(false);
  });

  it('describeFailure: one line, at most 500 characters, for anything thrown', () => {
    expect(describeFailure(new Error('line one\n  line two\t end'))).toBe('line one line two end');
    expect(describeFailure('plain')).toBe('plain');
    expect(describeFailure(undefined)).toBe('undefined');
    expect(describeFailure(new Error('x'.repeat(2000)))).toHaveLength(500);
  });
});

describe('createCircuitBreaker', () => {
  function clockedBreaker(threshold = 3, cooldownMs = 10_000) {
    let t = 1_000_000;
    const breaker = createCircuitBreaker({ name: 'email:smtp', threshold, cooldownMs, now: () => t });
    return { breaker, advance: (ms: number) => (t += ms) };
  }

  it('stays closed below the threshold; a success forgets the failures before it', () => {
    const { breaker } = clockedBreaker(3);
    expect(breaker.name).toBe('email:smtp');
    expect(breaker.state()).toBe('closed');
    breaker.failure();
    breaker.failure();
    expect(breaker.state()).toBe('closed');
    expect(breaker.allow()).toBe(true);
    breaker.success();
    breaker.failure();
    breaker.failure();
    // Not three in a row: still closed.
    expect(breaker.state()).toBe('closed');
    expect(breaker.allow()).toBe(true);
    expect(breaker.retryAfterMs()).toBe(0);
  });

  it('opens at the threshold and refuses until the cool-down has passed, saying how long is left', () => {
    const { breaker, advance } = clockedBreaker(3, 10_000);
    for (let i = 0; i < 3; i++) breaker.failure();
    expect(breaker.state()).toBe('open');
    expect(breaker.allow()).toBe(false);
    expect(breaker.retryAfterMs()).toBe(10_000);
    advance(4_000);
    expect(breaker.allow()).toBe(false);
    expect(breaker.retryAfterMs()).toBe(6_000);
    advance(6_000);
    expect(breaker.state()).toBe('half_open');
    expect(breaker.retryAfterMs()).toBe(0);
  });

  it('half-open lets exactly one trial through; the others wait for its outcome', () => {
    const { breaker, advance } = clockedBreaker(2, 10_000);
    breaker.failure();
    breaker.failure();
    advance(10_000);
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false);
    expect(breaker.allow()).toBe(false);
    expect(breaker.retryAfterMs()).toBe(10_000);
    advance(3_000);
    expect(breaker.retryAfterMs()).toBe(7_000);
  });

  it('a successful trial closes the circuit for everyone', () => {
    const { breaker, advance } = clockedBreaker(2, 10_000);
    breaker.failure();
    breaker.failure();
    advance(10_000);
    expect(breaker.allow()).toBe(true);
    breaker.success();
    expect(breaker.state()).toBe('closed');
    for (let i = 0; i < 5; i++) expect(breaker.allow()).toBe(true);
    // And it takes the full threshold again to open.
    breaker.failure();
    expect(breaker.state()).toBe('closed');
  });

  it('a failed trial opens the circuit again for a whole cool-down', () => {
    const { breaker, advance } = clockedBreaker(2, 10_000);
    breaker.failure();
    breaker.failure();
    advance(10_000);
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(breaker.state()).toBe('open');
    expect(breaker.allow()).toBe(false);
    expect(breaker.retryAfterMs()).toBe(10_000);
    advance(9_999);
    expect(breaker.allow()).toBe(false);
    advance(1);
    expect(breaker.allow()).toBe(true);
  });

  it('a trial that never reports does not block the provider forever', () => {
    const { breaker, advance } = clockedBreaker(1, 10_000);
    breaker.failure();
    advance(10_000);
    expect(breaker.allow()).toBe(true);
    advance(10_000);
    expect(breaker.allow()).toBe(false);
    advance(1);
    // The lost trial expired: a new one goes.
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false);
  });

  it('release() gives back a trial that never reached the provider, without judging it', () => {
    const { breaker, advance } = clockedBreaker(1, 10_000);
    breaker.failure();
    advance(10_000);
    expect(breaker.allow()).toBe(true);
    breaker.release();
    expect(breaker.state()).toBe('half_open');
    // The next message may be the trial at once.
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false);
    // Released when closed: nothing changes.
    breaker.success();
    breaker.release();
    expect(breaker.state()).toBe('closed');
    expect(breaker.allow()).toBe(true);
  });
});

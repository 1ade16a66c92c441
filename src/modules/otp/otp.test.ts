import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../platform/http/errors.js';
import { E164, failureProblem, newCode, normaliseRecipient } from './otp.service.js';

describe('newCode', () => {
  it('is exactly `length` decimal digits for every allowed length (4–10), leading zeros kept', () => {
    fc.assert(fc.property(fc.integer({ min: 4, max: 10 }), (length) => {
      expect(newCode(length)).toMatch(new RegExp(`^[0-9]{${length}}$`));
    }));
    // A code below 10^(length-1) still has `length` digits.
    const samples = Array.from({ length: 2000 }, () => newCode(4));
    expect(samples.some((code) => code.startsWith('0'))).toBe(true);
  });

  it('spreads evenly over the digits (no modulo bias): each digit of 20 000 codes near 10 %', () => {
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) for (const digit of newCode(6)) counts[Number(digit)]!++;
    // 120 000 digits: 12 000 expected each, a standard deviation of about 104.
    for (const count of counts) expect(Math.abs(count - 12_000)).toBeLessThan(1_000);
  });
});

describe('normaliseRecipient', () => {
  it('compares addresses case-insensitively and trims; keeps numbers as they are', () => {
    expect(normaliseRecipient('email', '  Ada@Example.TEST ')).toBe('ada@example.test');
    expect(normaliseRecipient('sms', ' +14155550123 ')).toBe('+14155550123');
  });
});

describe('E164', () => {
  it('accepts + and 7 to 15 digits without a leading zero; refuses everything else', () => {
    for (const ok of ['+14155550123', '+3361234567', '+1234567', '+123456789012345']) expect(E164.test(ok)).toBe(true);
    for (const bad of ['14155550123', '+0123456789', '+123456', '+1234567890123456', '+1 415 555 0123', '+1-415-555-0123', '']) expect(E164.test(bad)).toBe(false);
  });
});

describe('failureProblem', () => {
  it('renders each failure as its 400 problem, with attempts_left only when known', () => {
    const wrong = failureProblem({ ok: false, failure: 'invalid_code', attemptsLeft: 3 });
    expect(wrong).toBeInstanceOf(AppError);
    expect(wrong).toMatchObject({ code: 'invalid_code', status: 400, data: { attempts_left: 3 } });
    expect(failureProblem({ ok: false, failure: 'otp_expired' })).toMatchObject({ code: 'otp_expired', status: 400, data: undefined });
    expect(failureProblem({ ok: false, failure: 'otp_used' })).toMatchObject({ code: 'otp_used', status: 400 });
    expect(failureProblem({ ok: false, failure: 'otp_locked', attemptsLeft: 0 })).toMatchObject({ code: 'otp_locked', status: 400, data: { attempts_left: 0 } });
  });
});

import type { LightMyRequestResponse as Response } from 'fastify';
import { expect } from 'vitest';

export const PROBLEM = 'application/problem+json';

export const bearer = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` });

/** Asserts a problem+json answer (RFC 9457) with this status and code; returns its body. */
export function expectProblem(res: Response, status: number, code: string): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toContain(PROBLEM);
  const body = res.json<Record<string, unknown>>();
  expect(body).toMatchObject({ status, code, type: `urn:tessera:problem:${code}`, title: expect.any(String), detail: expect.any(String) });
  return body;
}

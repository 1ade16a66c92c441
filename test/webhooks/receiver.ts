import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { expect } from 'vitest';
import { waitFor } from '../helpers/wait.js';

/*
 * A webhook receiver on 127.0.0.1: a real HTTP server that records every request (path, headers,
 * raw body) and answers per path as the test says (200 by default, a status, a redirect, or never).
 * Tests verify what arrives with the `standardwebhooks` package, as a customer would; `assertAllVerified`
 * at the end checks that every request any endpoint received carried a valid signature.
 */

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** The parsed body of a delivery: `{type, timestamp, data}`. */
export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

export type Behaviour =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body?: string }
  | { kind: 'redirect'; location: string }
  /** Holds the request open until `release()` (or the server closes). */
  | { kind: 'hold' };

export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  /** A fresh path (`/h/<label>-<random>`) with its full URL. */
  endpoint(label: string): { path: string; url: string };
  /** How the receiver answers on `path` from now on. */
  behave(path: string, behaviour: Behaviour): void;
  /** Answers every request held open so far (200). */
  release(): void;
  /** Requests held open right now. */
  held(): number;
  /** The secrets that sign what arrives at `path` (checked by `assertAllVerified`). */
  expectSecrets(path: string, secrets: string[]): void;
  /** Every request to `path` so far. */
  hits(path: string): Received[];
  /** Verifies every request to `path` with `secret` and returns the payloads with their `webhook-id`. */
  verified(path: string, secret: string): (WebhookPayload & { webhookId: string })[];
  /** Waits until `path` received at least `count` requests; returns them all, verified with `secret`. */
  waitForDeliveries(path: string, secret: string, count?: number, timeoutMs?: number): Promise<(WebhookPayload & { webhookId: string })[]>;
  /** Every request received anywhere verifies with its path's secret(s). */
  assertAllVerified(): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const behaviours = new Map<string, Behaviour>();
  const secrets = new Map<string, string[]>();
  const holding: ServerResponse[] = [];

  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    const behaviour = behaviours.get(req.url ?? '/') ?? { kind: 'ok' };
    switch (behaviour.kind) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      case 'status':
        res.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end(behaviour.body ?? `status ${behaviour.status}`);
        return;
      case 'redirect':
        res.writeHead(302, { location: behaviour.location }).end();
        return;
      case 'hold':
        holding.push(res);
        return;
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : (value ?? '')]));
      received.push({ path: req.url ?? '/', headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  const hits = (path: string): Received[] => received.filter((entry) => entry.path === path);
  const verifyOne = (entry: Received, secret: string): WebhookPayload & { webhookId: string } => {
    const payload = new Webhook(secret).verify(entry.body, entry.headers) as WebhookPayload;
    return { ...payload, webhookId: entry.headers['webhook-id']! };
  };
  const verified = (path: string, secret: string) => hits(path).map((entry) => verifyOne(entry, secret));

  return {
    base,
    port,
    endpoint(label) {
      const path = `/h/${label}-${randomBytes(4).toString('hex')}`;
      return { path, url: `${base}${path}` };
    },
    behave: (path, behaviour) => void behaviours.set(path, behaviour),
    release() {
      for (const res of holding.splice(0)) if (!res.writableEnded && !res.destroyed) res.writeHead(200).end('released');
    },
    held: () => holding.filter((res) => !res.writableEnded && !res.destroyed).length,
    expectSecrets: (path, list) => void secrets.set(path, list),
    hits,
    verified,
    async waitForDeliveries(path, secret, count = 1, timeoutMs = 20_000) {
      await waitFor(() => hits(path).length >= count, timeoutMs, `${count} webhook request(s) at ${path}`);
      return verified(path, secret);
    },
    assertAllVerified() {
      for (const entry of received) {
        const list = secrets.get(entry.path);
        expect(list, `a request arrived at ${entry.path}, which no test expects`).toBeDefined();
        const ok = list!.some((secret) => {
          try {
            verifyOne(entry, secret);
            return true;
          } catch {
            return false;
          }
        });
        expect(ok, `the request to ${entry.path} (webhook-id ${entry.headers['webhook-id']}) does not verify with its endpoint's secret`).toBe(true);
      }
    },
    async close() {
      for (const res of holding.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

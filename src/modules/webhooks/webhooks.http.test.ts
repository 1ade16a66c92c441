import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsafeDestinationError, type OutboundPolicy } from '../../platform/delivery/index.js';
import { postJson } from './webhooks.http.js';

/*
 * What a webhook POST does at send time (real HTTP to a local server): no redirect followed, the
 * body kept short, a timeout, forbidden destinations refused before any byte is sent, by IP literal
 * and by a name that resolves to one. The guard's address and URL rules are tested beside it
 * (src/platform/delivery/outbound.test.ts).
 */

const STRICT: OutboundPolicy = { allowPrivateNetworks: false, requireHttps: false };
const OPEN: OutboundPolicy = { allowPrivateNetworks: true, requireHttps: false };
const PRODUCTION: OutboundPolicy = { allowPrivateNetworks: false, requireHttps: true };

describe('postJson against a local server', () => {
  let server: Server;
  let base: string;
  const seen: { url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const routes: Record<string, (res: ServerResponse) => void> = {
    '/ok': (res) => res.writeHead(204).end(),
    '/big': (res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('x'.repeat(200_000)),
    '/redirect': (res) => res.writeHead(302, { location: `${base}/target` }).end(),
    '/target': (res) => res.writeHead(200).end('followed'),
    '/never': () => undefined,
    '/endless': (res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('y'.repeat(16 * 1024))), 5);
    },
  };
  const hitsOf = (path: string) => seen.filter((entry) => entry.url === path);

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        (routes[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const post = (url: string, policy: OutboundPolicy = OPEN, timeoutMs = 5_000) => postJson(url, '{"a":1}', { 'webhook-id': 'evt_x' }, { ...policy, timeoutMs });

  it('POSTs the JSON body with its headers and answers the status', async () => {
    const result = await post(`${base}/ok`);
    expect(result.status).toBe(204);
    const [hit] = hitsOf('/ok');
    expect(hit).toMatchObject({ body: '{"a":1}', headers: { 'content-type': 'application/json', 'webhook-id': 'evt_x', 'content-length': '7' } });
  });

  it('keeps only the first KiB of the answer', async () => {
    const result = await post(`${base}/big`);
    expect(result.status).toBe(500);
    expect(result.body).toBe('x'.repeat(1024));
  });

  it('stops reading an endless answer after 64 KiB and keeps its status and first KiB (regression: it was read until the timeout)', async () => {
    const result = await post(`${base}/endless`, OPEN, 20_000);
    expect(result.status).toBe(200);
    expect(result.body).toBe('y'.repeat(1024));
  });

  it('does not follow a redirect: the 3xx is the answer and the target receives nothing', async () => {
    const result = await post(`${base}/redirect`);
    expect(result.status).toBe(302);
    expect(hitsOf('/redirect')).toHaveLength(1);
    expect(hitsOf('/target')).toHaveLength(0);
  });

  it('gives up after the timeout', async () => {
    await expect(post(`${base}/never`, OPEN, 300)).rejects.toThrow("timed out: no answer within 0.3 s");
  });

  it('refuses a forbidden IP literal before connecting', async () => {
    const before = seen.length;
    for (const url of [`${base}/ok`, `http://[::ffff:127.0.0.1]:${new URL(base).port}/ok`]) {
      await expect(post(url, STRICT)).rejects.toBeInstanceOf(UnsafeDestinationError);
    }
    expect(seen.length).toBe(before);
  });

  it('refuses a name that resolves to a forbidden address at connection time (DNS rebinding); with the flag the same URL is reached', async () => {
    const url = `http://localhost:${new URL(base).port}/ok`;
    const before = seen.length;
    await expect(post(url, STRICT)).rejects.toThrow(/localhost resolves to a forbidden address/);
    expect(seen.length).toBe(before);
    expect((await post(url, OPEN)).status).toBe(204);
    expect(seen.length).toBe(before + 1);
  });

  it('in production refuses plain http at send time', async () => {
    await expect(post('http://93.184.215.14/hook', PRODUCTION)).rejects.toThrow(/https/);
  });
});

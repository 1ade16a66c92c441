import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isForbiddenAddress, postJson, unsafeUrlReason, UnsafeDestinationError, type OutboundPolicy } from './webhooks.http.js';

/*
 * Outbound safety of webhook deliveries: which addresses are forbidden, which URLs may be saved,
 * and what a POST does at send time (real HTTP to a local server: no redirect followed, the body
 * kept short, a timeout, forbidden destinations refused before any byte is sent, by IP literal and
 * by a name that resolves to one).
 */

const STRICT: OutboundPolicy = { allowPrivateNetworks: false, requireHttps: false };
const OPEN: OutboundPolicy = { allowPrivateNetworks: true, requireHttps: false };
const PRODUCTION: OutboundPolicy = { allowPrivateNetworks: false, requireHttps: true };

describe('isForbiddenAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['127.255.255.254', 'loopback'], ['10.0.0.1', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'], ['169.254.169.254', 'link-local (cloud metadata)'], ['100.64.0.1', 'carrier-grade NAT'], ['0.0.0.0', 'this network'],
    ['224.0.0.1', 'multicast'], ['255.255.255.255', 'broadcast'], ['198.18.0.1', 'benchmarking'], ['192.0.2.1', 'documentation'],
    ['::1', 'IPv6 loopback'], ['::', 'IPv6 unspecified'], ['fe80::1', 'IPv6 link-local'], ['fc00::1', 'unique local'], ['fd12:3456::1', 'unique local'],
    ['ff02::1', 'IPv6 multicast'], ['fd00:ec2::254', 'AWS IPv6 metadata (unique local)'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback, dotted'], ['::ffff:7f00:1', 'IPv4-mapped loopback, hex'], ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata'],
    ['0:0:0:0:0:ffff:a00:1', 'IPv4-mapped private, long form'], ['64:ff9b::7f00:1', 'NAT64 of loopback'], ['::7f00:1', 'IPv4-compatible loopback (deprecated)'],
    ['::127.0.0.1', 'IPv4-compatible loopback, dotted'], ['not-an-address', 'not an IP address'], ['', 'empty'],
  ])('%s (%s) is forbidden', (address) => {
    expect(isForbiddenAddress(address)).toBe(true);
  });

  it.each([['8.8.8.8'], ['1.1.1.1'], ['93.184.215.14'], ['172.32.0.1'], ['100.128.0.1'], ['2606:4700::1111'], ['2a00:1450:4001:81a::200e'], ['::ffff:8.8.8.8']])(
    '%s (public) is allowed',
    (address) => {
      expect(isForbiddenAddress(address)).toBe(false);
    },
  );
});

describe('unsafeUrlReason', () => {
  it.each([
    'http://127.0.0.1/hook', 'http://127.0.0.1:8080/hook', 'http://10.0.0.1/', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/',
    'http://[0:0:0:0:0:ffff:169.254.169.254]/', 'http://2130706433/', 'http://0x7f.1/', 'http://0/', 'http://[::]/', 'http://[fd00:ec2::254]/',
    'http://localhost/', 'http://LOCALHOST:3000/', 'http://localhost./', 'http://api.localhost/', 'http://metadata.google.internal/computeMetadata/v1/',
    'http://metadata.google.internal./', 'http://printer.local/',
  ])('refuses %s without WEBHOOK_ALLOW_PRIVATE_NETWORKS', async (url) => {
    expect(await unsafeUrlReason(url, STRICT)).toMatch(/private|loopback|local|reserved/);
  });

  it.each([
    ['not a url', /not a URL/], ['ftp://93.184.215.14/', /http/], ['file:///etc/passwd', /http/], ['javascript:alert(1)', /http/],
    ['http://user:pass@93.184.215.14/', /credentials/], ['https://93.184.215.14/hook#part', /fragment/],
  ])('refuses %s whatever the network policy', async (url, reason) => {
    expect(await unsafeUrlReason(url, STRICT)).toMatch(reason);
    expect(await unsafeUrlReason(url, OPEN)).toMatch(reason);
  });

  it('accepts public addresses (IP literals need no DNS)', async () => {
    for (const url of ['http://93.184.215.14/hook', 'https://93.184.215.14:8443/hooks?x=1', 'https://[2606:4700::1111]/hook']) expect(await unsafeUrlReason(url, STRICT)).toBeNull();
  });

  it('with the flag, private and loopback destinations are allowed', async () => {
    for (const url of ['http://127.0.0.1:9/hook', 'http://localhost:9/', 'http://10.0.0.1/', 'http://[::1]/']) expect(await unsafeUrlReason(url, OPEN)).toBeNull();
  });

  it('in production only https is allowed', async () => {
    expect(await unsafeUrlReason('http://93.184.215.14/hook', PRODUCTION)).toMatch(/https/);
    expect(await unsafeUrlReason('https://93.184.215.14/hook', PRODUCTION)).toBeNull();
    expect(await unsafeUrlReason('https://127.0.0.1/hook', PRODUCTION)).toMatch(/loopback/);
  });
});

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

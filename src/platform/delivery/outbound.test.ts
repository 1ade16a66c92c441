import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { isForbiddenAddress, isLoopbackAddress, unsafeUrlReason, type OutboundPolicy, type Resolver } from './outbound.js';

/*
 * The outbound guard shared by webhook and Web Push deliveries: which addresses are forbidden,
 * which URLs may be saved (IP literals, local names, names that resolve to forbidden addresses),
 * and the loopback allowance of development and tests.
 */

const STRICT: OutboundPolicy = { allowPrivateNetworks: false, requireHttps: false };
const OPEN: OutboundPolicy = { allowPrivateNetworks: true, requireHttps: false };
const PRODUCTION: OutboundPolicy = { allowPrivateNetworks: false, requireHttps: true };
const LOOPBACK_ONLY: OutboundPolicy = { allowPrivateNetworks: false, requireHttps: false, allowLoopback: true };

/** A resolver with fixed answers (no DNS server needed). */
const fakeDns = (answers: Record<string, string[]>): Resolver => async (host) => {
  const addresses = answers[host];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
};

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


describe('names resolved at save time', () => {
  const dns = fakeDns({ 'rebind.example.net': ['10.0.0.8'], 'meta.example.net': ['93.184.215.14', '169.254.169.254'], 'push.example.net': ['93.184.215.14'], 'loop.example.net': ['127.0.0.1'] });

  it('refuses a public-looking name that resolves to a private or metadata address (any of its addresses)', async () => {
    expect(await unsafeUrlReason('https://rebind.example.net/x', STRICT, { resolve: dns })).toMatch(/resolves to a private/);
    expect(await unsafeUrlReason('https://meta.example.net/x', STRICT, { resolve: dns })).toMatch(/resolves to a private/);
    expect(await unsafeUrlReason('https://push.example.net/x', STRICT, { resolve: dns })).toBeNull();
  });

  it('a name that does not resolve is refused, unless the caller accepts it (every connection checks it again)', async () => {
    expect(await unsafeUrlReason('https://nowhere.example.net/x', STRICT, { resolve: dns })).toBe('does not resolve');
    expect(await unsafeUrlReason('https://nowhere.example.net/x', STRICT, { resolve: dns, unresolvable: 'accept' })).toBeNull();
    // Accepting the unresolvable never lets a forbidden answer through.
    expect(await unsafeUrlReason('https://rebind.example.net/x', STRICT, { resolve: dns, unresolvable: 'accept' })).toMatch(/resolves to a private/);
  });

  it('allowLoopback lets loopback through (literals, localhost, names resolving to 127.0.0.1) and nothing else private', async () => {
    for (const url of ['http://127.0.0.1:9/push', 'http://[::1]:9/push', 'https://loop.example.net/x']) expect(await unsafeUrlReason(url, LOOPBACK_ONLY, { resolve: dns }), url).toBeNull();
    expect(await unsafeUrlReason('http://localhost:9/push', LOOPBACK_ONLY)).toBeNull();
    for (const url of ['http://10.0.0.1/', 'http://169.254.169.254/', 'https://rebind.example.net/x', 'http://printer.local/']) {
      expect(await unsafeUrlReason(url, LOOPBACK_ONLY, { resolve: dns }), url).toMatch(/private|local/);
    }
    expect(await unsafeUrlReason('https://loop.example.net/x', STRICT, { resolve: dns })).toMatch(/resolves to a private, loopback/);
  });

  it('isLoopbackAddress: 127/8 and ::1, also IPv4-mapped; nothing else', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(address), address).toBe(true);
    for (const address of ['10.0.0.1', '169.254.169.254', '::', 'fe80::1', 'localhost', '']) expect(isLoopbackAddress(address), address).toBe(false);
  });
});

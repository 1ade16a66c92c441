import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/*
 * Outbound safety for every request to a URL someone else chose: webhook endpoints (a customer's)
 * and Web Push endpoints (a browser's). Without care Tessera would be a proxy into its own network:
 * private, loopback, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast
 * and reserved addresses are refused when the URL is saved and again on every connection, by
 * resolving the name ourselves and checking every address it resolves to (a name that resolved to a
 * public address when saved may resolve to a private one later: DNS rebinding). Callers never
 * follow redirects.
 */

const FORBIDDEN = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24],
  ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) FORBIDDEN.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  // ::/96 holds the unspecified address, loopback and the deprecated IPv4-compatible form (::127.0.0.1).
  ['::', 96], ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 32], ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) FORBIDDEN.addSubnet(network, prefix, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as its IPv4 address; anything else unchanged. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Whether an address is one an outbound request must never reach (IPv4-mapped IPv6 judged by its IPv4). */
export function isForbiddenAddress(address: string): boolean {
  const plain = unmapped(address);
  const family = isIP(plain);
  if (family === 0) return true;
  return FORBIDDEN.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}

/** 127.0.0.0/8 and ::1 (also IPv4-mapped). */
export function isLoopbackAddress(address: string): boolean {
  const plain = unmapped(address);
  const family = isIP(plain);
  return family !== 0 && LOOPBACK.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}

export class UnsafeDestinationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeDestinationError';
  }
}

export interface OutboundPolicy {
  /** Every address is allowed (WEBHOOK_ALLOW_PRIVATE_NETWORKS: tests on loopback, private deployments). */
  allowPrivateNetworks: boolean;
  /** Production: https only. */
  requireHttps: boolean;
  /**
   * Loopback addresses (and the names `localhost`, `*.localhost` that resolve to them) are allowed,
   * every other private address still refused: a local push service in development and tests.
   */
  allowLoopback?: boolean;
}

/** Whether `policy` lets a connection reach `address`. */
export function isAllowedAddress(address: string, policy: OutboundPolicy): boolean {
  if (policy.allowPrivateNetworks) return true;
  if (policy.allowLoopback && isLoopbackAddress(address)) return true;
  return !isForbiddenAddress(address);
}

/** Resolves a host name to every address it has (tests pass their own). */
export type Resolver = (host: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) => dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));

export interface UrlCheckOptions {
  resolve?: Resolver;
  /**
   * A name that does not resolve (now): refused (default: nothing can be checked), or accepted
   * because every connection resolves and checks it again (`guardedLookup`) and nothing is sent
   * before that.
   */
  unresolvable?: 'refuse' | 'accept';
}

/** The reason a URL may not be the destination of outbound requests, or null. Resolves the host name. */
export async function unsafeUrlReason(raw: string, policy: OutboundPolicy, options: UrlCheckOptions = {}): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && !policy.requireHttps)) return policy.requireHttps ? 'must be an https URL' : 'must be an http or https URL';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.hash) return 'must not have a fragment';
  if (policy.allowPrivateNetworks) return null;
  // A fully qualified name may end in a dot (`localhost.`, `metadata.google.internal.`): judged without it.
  const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.+$/, '').toLowerCase();
  if (isIP(host)) return isAllowedAddress(host, policy) ? null : 'points to a private, loopback, link-local or reserved address';
  const localName = host === 'localhost' || host.endsWith('.localhost');
  if ((localName && !policy.allowLoopback) || host.endsWith('.internal') || host.endsWith('.local')) return 'points to a local host name';
  let addresses: LookupAddress[];
  try {
    addresses = await (options.resolve ?? systemResolver)(host);
  } catch {
    return options.unresolvable === 'accept' ? null : 'does not resolve';
  }
  if (addresses.length === 0) return options.unresolvable === 'accept' ? null : 'does not resolve';
  return addresses.every((entry) => isAllowedAddress(entry.address, policy)) ? null : 'resolves to a private, loopback, link-local or reserved address';
}

/** A `lookup` for sockets that refuses forbidden addresses at connection time (DNS rebinding). */
export function guardedLookup(policy: OutboundPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, '', 4);
      const list = addresses as unknown as LookupAddress[];
      if (list.length === 0 || list.some((entry) => !isAllowedAddress(entry.address, policy))) {
        return callback(new UnsafeDestinationError(`${hostname} resolves to a forbidden address`), '', 4);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/**
 * Refuses, before any connection, a URL whose host is an IP literal the policy forbids (sockets do
 * not look literals up, so `guardedLookup` never sees them) or whose scheme it does not allow.
 */
export function assertSafeTarget(url: URL, policy: OutboundPolicy): void {
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && !isAllowedAddress(literal, policy)) throw new UnsafeDestinationError(`${literal} is a forbidden address`);
  if (policy.requireHttps && url.protocol !== 'https:') throw new UnsafeDestinationError('only https destinations are allowed');
}

/** An HTTPS agent whose connections resolve names through `guardedLookup` (extra TLS options, e.g. a test CA, kept). */
export function guardedHttpsAgent(policy: OutboundPolicy, options: HttpsAgentOptions = {}): HttpsAgent {
  return new HttpsAgent({ keepAlive: true, ...options, lookup: guardedLookup(policy) });
}

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/*
 * Outbound safety for webhook deliveries. A customer chooses the URL, so without care Tessera would
 * be a proxy into its own network: private, loopback, link-local (cloud metadata at 169.254.169.254),
 * carrier-grade NAT, multicast and reserved addresses are refused when the endpoint is saved and
 * again on every connection, by resolving the name ourselves and checking every address it resolves
 * to (a name that resolved to a public address when saved may resolve to a private one later: DNS
 * rebinding). Redirects are never followed.
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

/** Whether an address is one a webhook must never reach (IPv4-mapped IPv6 judged by its IPv4). */
export function isForbiddenAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return FORBIDDEN.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return FORBIDDEN.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export class UnsafeDestinationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeDestinationError';
  }
}

export interface OutboundPolicy {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: tests on loopback, private deployments. */
  allowPrivateNetworks: boolean;
  /** Production: https only. */
  requireHttps: boolean;
}

function resolveAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));
}

/** The reason a URL may not be a webhook endpoint, or null. Resolves the host name. */
export async function unsafeUrlReason(raw: string, policy: OutboundPolicy): Promise<string | null> {
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
  const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.+$/, '');
  if (isIP(host)) return isForbiddenAddress(host) ? 'points to a private, loopback, link-local or reserved address' : null;
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local')) return 'points to a local host name';
  let addresses: LookupAddress[];
  try {
    addresses = await resolveAll(host);
  } catch {
    return 'does not resolve';
  }
  if (addresses.length === 0) return 'does not resolve';
  return addresses.some((entry) => isForbiddenAddress(entry.address)) ? 'resolves to a private, loopback, link-local or reserved address' : null;
}

/** A `lookup` for sockets that refuses forbidden addresses at connection time (DNS rebinding). */
export function guardedLookup(policy: OutboundPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, '', 4);
      const list = addresses as unknown as LookupAddress[];
      if (!policy.allowPrivateNetworks) {
        const bad = list.find((entry) => isForbiddenAddress(entry.address));
        if (bad || list.length === 0) return callback(new UnsafeDestinationError(`${hostname} resolves to a forbidden address`), '', 4);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

export interface PostResult {
  status: number;
  /** The first KiB of the body. */
  body: string;
  latencyMs: number;
}

const BODY_KEPT = 1024;
/** After this much of an answer, the connection is closed: the status is known, the rest is not kept. */
const BODY_READ_LIMIT = 64 * 1024;

/**
 * POSTs `body` and reads at most a little of the answer. Never follows redirects (a 3xx is a
 * failure like any non-2xx). IP literals are checked here, names in `guardedLookup`.
 */
export async function postJson(url: string, body: string, headers: Record<string, string>, options: OutboundPolicy & { timeoutMs: number }): Promise<PostResult> {
  const target = new URL(url);
  const literal = target.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowPrivateNetworks && isIP(literal) && isForbiddenAddress(literal)) throw new UnsafeDestinationError(`${literal} is a forbidden address`);
  if (options.requireHttps && target.protocol !== 'https:') throw new UnsafeDestinationError('only https endpoints are allowed');
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const started = performance.now();
  const signal = AbortSignal.timeout(options.timeoutMs);
  return new Promise<PostResult>((resolve, reject) => {
    // An aborted request fails with "The operation was aborted": say what happened instead.
    const fail = (error: unknown): void => reject(signal.aborted ? new Error(`timed out: no answer within ${options.timeoutMs / 1000} s`) : error);
    const req = request(
      target,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'Tessera-Webhooks/1', ...headers },
        lookup: guardedLookup(options),
        signal,
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          if (read < BODY_KEPT) chunks.push(chunk);
          read += chunk.length;
          // Enough read: the rest of a large (or endless) answer is not worth the time.
          if (read >= BODY_READ_LIMIT) response.destroy();
        });
        const finish = (): void =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, BODY_KEPT).toString('utf8'), latencyMs: Math.round(performance.now() - started) });
        response.on('end', finish);
        response.on('close', finish);
        response.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

import { and, desc, eq, gt, or } from 'drizzle-orm';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, createLocalJWKSet, type JWK, type JWTPayload } from 'jose';
import type { Database } from '../db/database.js';
import { newId } from './ids.js';
import type { SecretBox } from './secret-box.js';
import { signingKeys } from './keys.tables.js';

const ALG = 'EdDSA';
/** The OpenID provider's ID tokens: RS256 is what every relying party must accept (OpenID Connect Core 15.1). */
const ID_TOKEN_ALG = 'RS256';
const PURPOSE = 'signing-key';
/** How long a process trusts its copy of the key set before reading it again (rotation on other instances). */
const REFRESH_MS = 60_000;
/** A token with an unknown `kid` triggers a re-read at most this often (it may come from a rotation elsewhere). */
const RELOAD_ON_UNKNOWN_KID_MS = 1_000;

/**
 * How long a retired key stays published: the longest a token it signed can live, after the last
 * instance stopped signing with it (up to one refresh interval after the rotation), plus clock skew.
 */
export function retiredKeyRetentionSeconds(accessTokenTtlSeconds: number): number {
  return accessTokenTtlSeconds + REFRESH_MS / 1000 + 120;
}

export interface SignOptions {
  subject: string;
  expiresInSeconds: number;
  audience?: string;
  type?: string;
}

export interface KeyStore {
  sign(claims: JWTPayload, options: SignOptions): Promise<string>;
  /** Verifies signature, issuer, expiry (and audience/type when given); throws otherwise. */
  verify(token: string, options?: { audience?: string; type?: string }): Promise<JWTPayload>;
  /** The public keys as a JWK Set (`/.well-known/jwks.json`). */
  jwks(): Promise<{ keys: JWK[] }>;
  /**
   * Publishes a new key and signs with it from now on; the old key stays in the JWKS until every
   * token it signed has expired (`retainRetiredSeconds`). Other instances pick the new key up within
   * a minute, or at once when they meet a token with its `kid`.
   */
  rotate(): Promise<{ kid: string }>;
  /**
   * The private keys the OpenID provider signs with: the published Ed25519 keys (access tokens, the
   * same kid as `sign`) and RS256 keys for ID tokens, created on first call. `version` changes when
   * the set does (a rotation), so the provider can be rebuilt with the new keys.
   */
  providerKeys(): Promise<{ version: string; keys: JWK[] }>;
}

interface LoadedKeys {
  at: number;
  /** The private halves of every published key, newest first (only for the OpenID provider). */
  privateJwks: JWK[];
  signing: { kid: string; key: Awaited<ReturnType<typeof importJWK>> };
  jwks: { keys: JWK[] };
  verifier: ReturnType<typeof createLocalJWKSet>;
}

/**
 * EdDSA (Ed25519) signing keys kept in the database, so every instance signs and verifies with the
 * same set. The first use creates a key when there is none.
 */
export function createKeyStore(deps: { db: Database; box: SecretBox; issuer: string; retainRetiredSeconds: number }): KeyStore {
  let loaded: LoadedKeys | undefined;
  let loading: Promise<LoadedKeys> | undefined;

  async function newKeyRow(alg: typeof ALG | typeof ID_TOKEN_ALG = ALG): Promise<typeof signingKeys.$inferInsert> {
    const { publicKey, privateKey } = await generateKeyPair(alg, alg === ALG ? { crv: 'Ed25519', extractable: true } : { modulusLength: 2048, extractable: true });
    const id = newId('jwk');
    const publicJwk = { ...(await exportJWK(publicKey)), kid: id, alg, use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid: id, alg };
    return { id, alg, publicJwk, privateJwkSealed: deps.box.seal(JSON.stringify(privateJwk), PURPOSE) };
  }

  /** The active keys and the retired ones that may still have live tokens, newest first. */
  function publishedKeys() {
    const retainedSince = new Date(Date.now() - deps.retainRetiredSeconds * 1000);
    return deps.db.orm
      .select()
      .from(signingKeys)
      .where(or(eq(signingKeys.status, 'active'), and(eq(signingKeys.status, 'retired'), gt(signingKeys.retiredAt, retainedSince))))
      .orderBy(desc(signingKeys.createdAt));
  }

  async function readKeys(): Promise<LoadedKeys> {
    let rows = await publishedKeys();
    if (!rows.some((row) => row.status === 'active' && row.alg === ALG)) {
      await deps.db.orm.insert(signingKeys).values(await newKeyRow());
      rows = await publishedKeys();
    }
    const active = rows.find((row) => row.status === 'active' && row.alg === ALG)!;
    const privateJwks = rows.map((row) => JSON.parse(deps.box.open(row.privateJwkSealed, PURPOSE)) as JWK);
    const privateJwk = privateJwks[rows.indexOf(active)]!;
    const jwks = { keys: rows.map((row) => row.publicJwk as JWK) };
    return {
      at: Date.now(),
      privateJwks,
      signing: { kid: active.id, key: await importJWK(privateJwk, ALG) },
      jwks,
      verifier: createLocalJWKSet(jwks),
    };
  }

  function reload(): Promise<LoadedKeys> {
    loading ??= readKeys()
      .then((keys) => (loaded = keys))
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  /**
   * The key set. Once loaded it is served from memory and re-read in the background when stale, so
   * signing never waits on the database (and can run inside a transaction, even on PGlite's single
   * connection). `fresh` waits for a re-read, at most every few seconds (an unknown `kid`).
   */
  async function keys(options: { fresh?: boolean } = {}): Promise<LoadedKeys> {
    if (!loaded) return reload();
    const age = Date.now() - loaded.at;
    if (options.fresh && age >= RELOAD_ON_UNKNOWN_KID_MS) return reload();
    if (age >= REFRESH_MS) reload().catch(() => undefined);
    return loaded;
  }

  return {
    async sign(claims, options) {
      const { signing } = await keys();
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: ALG, kid: signing.kid, typ: options.type ?? 'JWT' })
        .setIssuer(deps.issuer)
        .setSubject(options.subject)
        .setIssuedAt()
        .setExpirationTime(`${options.expiresInSeconds}s`);
      if (options.audience) jwt.setAudience(options.audience);
      return jwt.sign(signing.key);
    },
    async verify(token, options = {}) {
      const verifyOptions = {
        issuer: deps.issuer,
        algorithms: [ALG],
        ...(options.audience ? { audience: options.audience } : {}),
        ...(options.type ? { typ: options.type } : {}),
      };
      try {
        return (await jwtVerify(token, (await keys()).verifier, verifyOptions)).payload;
      } catch (error) {
        if ((error as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw error;
        return (await jwtVerify(token, (await keys({ fresh: true })).verifier, verifyOptions)).payload;
      }
    },
    async jwks() {
      return (await keys()).jwks;
    },
    async rotate() {
      const row = await newKeyRow();
      const active = await deps.db.orm.select({ alg: signingKeys.alg }).from(signingKeys).where(eq(signingKeys.status, 'active'));
      const withIdTokenKey = active.some((key) => key.alg === ID_TOKEN_ALG);
      const rows = withIdTokenKey ? [row, await newKeyRow(ID_TOKEN_ALG)] : [row];
      await deps.db.transaction(async (tx) => {
        await tx.orm.update(signingKeys).set({ status: 'retired', retiredAt: new Date() }).where(eq(signingKeys.status, 'active'));
        await tx.orm.insert(signingKeys).values(rows);
      });
      await reload();
      return { kid: row.id };
    },
    async providerKeys() {
      let current = await keys();
      if (!current.privateJwks.some((jwk) => jwk.alg === ID_TOKEN_ALG)) {
        // Two instances may both add one at first use: harmless, the newest signs and both are published.
        await deps.db.orm.insert(signingKeys).values(await newKeyRow(ID_TOKEN_ALG));
        current = await reload();
      }
      return { version: current.privateJwks.map((jwk) => jwk.kid).join(' '), keys: current.privateJwks };
    },
  };
}

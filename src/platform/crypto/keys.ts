import { desc, ne } from 'drizzle-orm';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, createLocalJWKSet, type JWK, type JWTPayload } from 'jose';
import type { Database } from '../db/database.js';
import { newId } from './ids.js';
import type { SecretBox } from './secret-box.js';
import { signingKeys } from './keys.tables.js';

const ALG = 'EdDSA';
const PURPOSE = 'signing-key';
/** How long a process trusts its copy of the key set before reading it again (rotation on other instances). */
const REFRESH_MS = 60_000;

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
}

interface LoadedKeys {
  at: number;
  signing: { kid: string; key: Awaited<ReturnType<typeof importJWK>> };
  jwks: { keys: JWK[] };
  verifier: ReturnType<typeof createLocalJWKSet>;
}

/**
 * EdDSA (Ed25519) signing keys kept in the database, so every instance signs and verifies with the
 * same set. The first use creates a key when there is none.
 */
export function createKeyStore(deps: { db: Database; box: SecretBox; issuer: string }): KeyStore {
  let loaded: LoadedKeys | undefined;
  let loading: Promise<LoadedKeys> | undefined;

  async function readKeys(): Promise<LoadedKeys> {
    let rows = await deps.db.orm.select().from(signingKeys).where(ne(signingKeys.status, 'revoked')).orderBy(desc(signingKeys.createdAt));
    if (!rows.some((row) => row.status === 'active')) {
      const { publicKey, privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
      const id = newId('jwk');
      const publicJwk = { ...(await exportJWK(publicKey)), kid: id, alg: ALG, use: 'sig' };
      const privateJwk = { ...(await exportJWK(privateKey)), kid: id, alg: ALG };
      await deps.db.orm.insert(signingKeys).values({
        id,
        alg: ALG,
        publicJwk,
        privateJwkSealed: deps.box.seal(JSON.stringify(privateJwk), PURPOSE),
      });
      rows = await deps.db.orm.select().from(signingKeys).where(ne(signingKeys.status, 'revoked')).orderBy(desc(signingKeys.createdAt));
    }
    const active = rows.find((row) => row.status === 'active')!;
    const privateJwk = JSON.parse(deps.box.open(active.privateJwkSealed, PURPOSE)) as JWK;
    const jwks = { keys: rows.map((row) => row.publicJwk as JWK) };
    return {
      at: Date.now(),
      signing: { kid: active.id, key: await importJWK(privateJwk, ALG) },
      jwks,
      verifier: createLocalJWKSet(jwks),
    };
  }

  async function keys(): Promise<LoadedKeys> {
    if (loaded && Date.now() - loaded.at < REFRESH_MS) return loaded;
    loading ??= readKeys().finally(() => {
      loading = undefined;
    });
    loaded = await loading;
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
      const { verifier } = await keys();
      const { payload } = await jwtVerify(token, verifier, {
        issuer: deps.issuer,
        algorithms: [ALG],
        ...(options.audience ? { audience: options.audience } : {}),
        ...(options.type ? { typ: options.type } : {}),
      });
      return payload;
    },
    async jwks() {
      return (await keys()).jwks;
    },
  };
}

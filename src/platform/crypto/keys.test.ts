import { decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.js';
import type { Database } from '../db/database.js';
import { createKeyStore, type KeyStore } from './keys.js';
import { signingKeys } from './keys.tables.js';
import { createSecretBox } from './secret-box.js';

const ISSUER = 'https://id.example.test';
const box = createSecretBox('keys-test-secret-0123456789-abcdefghijkl'); // 40 characters
/** How long keys.ts throttles re-reads on an unknown kid (RELOAD_ON_UNKNOWN_KID_MS). */
const UNKNOWN_KID_THROTTLE_MS = 1_000;

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase('pglite');
  db = database.db;
});
afterAll(() => database?.destroy());
beforeEach(async () => {
  await db.orm.delete(signingKeys);
});
afterEach(() => {
  vi.useRealTimers();
});

function store(retainRetiredSeconds = 960): KeyStore {
  return createKeyStore({ db, box, issuer: ISSUER, retainRetiredSeconds });
}

const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid;
const sign = (keys: KeyStore, subject = 'usr_1'): Promise<string> => keys.sign({ sid: 'ses_1' }, { subject, expiresInSeconds: 300 });

describe('KeyStore', () => {
  it('creates one active key on first use', async () => {
    expect(await db.orm.select().from(signingKeys)).toHaveLength(0);
    const { keys } = await store().jwks();
    expect(keys).toHaveLength(1);
    const rows = await db.orm.select().from(signingKeys);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: keys[0]!.kid, status: 'active', alg: 'EdDSA', retiredAt: null });
  });

  it('publishes only the public members of its keys', async () => {
    const { keys } = await store().jwks();
    expect(keys).toHaveLength(1);
    const [jwk] = keys;
    expect(Object.keys(jwk!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwk).not.toHaveProperty('d');
  });

  it('verifies what it signed, and refuses another issuer, a tampered token and an expired one', async () => {
    const keys = store();
    const token = await sign(keys, 'usr_alice');
    expect(kidOf(token)).toBe((await keys.jwks()).keys[0]!.kid);
    await expect(keys.verify(token)).resolves.toMatchObject({ sub: 'usr_alice', sid: 'ses_1', iss: ISSUER });

    const other = createKeyStore({ db, box, issuer: 'https://elsewhere.test', retainRetiredSeconds: 960 });
    await expect(other.verify(token)).rejects.toThrow();
    const [header, payload, signature] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'usr_mallory' })).toString('base64url');
    await expect(keys.verify(`${header}.${forged}.${signature}`)).rejects.toThrow();
    const expired = await keys.sign({}, { subject: 'usr_alice', expiresInSeconds: -120 });
    await expect(keys.verify(expired)).rejects.toThrow();
  });

  it('after rotate() signs with the new key, still verifies tokens of the old one, and publishes both', async () => {
    const keys = store();
    const before = await sign(keys);
    const oldKid = kidOf(before);

    const { kid } = await keys.rotate();
    expect(kid).not.toBe(oldKid);
    const after = await sign(keys);
    expect(kidOf(after)).toBe(kid);

    await expect(keys.verify(before)).resolves.toMatchObject({ sub: 'usr_1' });
    await expect(keys.verify(after)).resolves.toMatchObject({ sub: 'usr_1' });
    expect((await keys.jwks()).keys.map((jwk) => jwk.kid)).toEqual([kid, oldKid]);

    const rows = await db.orm.select().from(signingKeys);
    expect(rows.filter((row) => row.status === 'active').map((row) => row.id)).toEqual([kid]);
    expect(rows.find((row) => row.id === oldKid)).toMatchObject({ status: 'retired', retiredAt: expect.any(Date) });
  });

  it('stops publishing a retired key once its retention is over, and then refuses its tokens', async () => {
    const keys = store(1);
    const before = await sign(keys);
    const oldKid = kidOf(before);
    const { kid } = await keys.rotate();

    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // A fresh instance reads the published set from the database now.
    const later = store(1);
    expect((await later.jwks()).keys.map((jwk) => jwk.kid)).toEqual([kid]);
    await expect(later.verify(before)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    // The row itself is kept (status retired), just no longer published.
    expect((await db.orm.select().from(signingKeys)).map((row) => row.id).sort()).toEqual([kid, oldKid].sort());
  });

  it('another instance that loaded the keys before a rotation verifies a token with the new kid at once', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const a = store();
    const b = store();
    const old = await sign(a);
    await expect(b.verify(old)).resolves.toMatchObject({ sub: 'usr_1' }); // b now holds the pre-rotation set

    // An unknown kid makes an instance re-read the keys at most once a second: let b's copy be that old.
    vi.setSystemTime(Date.now() + UNKNOWN_KID_THROTTLE_MS + 1);
    const { kid } = await a.rotate();
    const fresh = await sign(a, 'usr_bob');
    expect(kidOf(fresh)).toBe(kid);

    await expect(b.verify(fresh)).resolves.toMatchObject({ sub: 'usr_bob' });
    expect((await b.jwks()).keys.map((jwk) => jwk.kid)).toEqual([kid, kidOf(old)]);
    await expect(b.sign({}, { subject: 'usr_1', expiresInSeconds: 60 }).then(kidOf)).resolves.toBe(kid);
  });

  it('keeps the private key sealed in the database', async () => {
    const keys = store();
    await keys.jwks();
    const { rows } = await db.sql.query<{ private_jwk_sealed: string; public_jwk: Record<string, unknown> }>(
      'SELECT private_jwk_sealed, public_jwk FROM signing_keys',
    );
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row!.private_jwk_sealed).toMatch(/^v1\.[\w-]+\.[\w-]+$/);
    expect(row!.private_jwk_sealed).not.toContain('"d":');
    expect(row!.public_jwk).not.toHaveProperty('d');
    // It is the private key, sealed for this purpose under TESSERA_SECRET.
    expect(JSON.parse(box.open(row!.private_jwk_sealed, 'signing-key'))).toHaveProperty('d');
    expect(() => createSecretBox('another-secret-0123456789-abcdefghijklmno').open(row!.private_jwk_sealed, 'signing-key')).toThrow();
  });

  it('gives the OpenID provider its private keys: the signing Ed25519 key and an RS256 key made on first call, both published', async () => {
    const keys = store();
    const token = await sign(keys);
    const first = await keys.providerKeys();
    expect(first.keys.map((jwk) => jwk.alg).sort()).toEqual(['EdDSA', 'RS256']);
    expect(first.keys.every((jwk) => typeof jwk.d === 'string')).toBe(true);
    expect(first.keys.find((jwk) => jwk.alg === 'EdDSA')!.kid).toBe(kidOf(token));
    // The JWKS publishes both, public members only; a second call adds nothing.
    const published = (await keys.jwks()).keys;
    expect(published.map((jwk) => jwk.kid).sort()).toEqual(first.keys.map((jwk) => jwk.kid).sort());
    expect(published.every((jwk) => !('d' in jwk) && !('p' in jwk))).toBe(true);
    expect((await keys.providerKeys()).version).toBe(first.version);
    // A rotation replaces both, keeps the old ones published, and changes the version.
    await keys.rotate();
    const after = await keys.providerKeys();
    expect(after.version).not.toBe(first.version);
    expect(after.keys.map((jwk) => jwk.alg).sort()).toEqual(['EdDSA', 'EdDSA', 'RS256', 'RS256']);
    const rows = await db.orm.select().from(signingKeys);
    expect(rows.filter((row) => row.status === 'active').map((row) => row.alg).sort()).toEqual(['EdDSA', 'RS256']);
  });
});

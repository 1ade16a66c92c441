import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption of secrets at rest (TOTP secrets, signing keys, provider secrets, job
 * payloads that carry tokens) under a key derived from TESSERA_SECRET with HKDF-SHA256: AES-256-GCM,
 * a random 96-bit nonce per value, and the purpose bound in as associated data so a value sealed for
 * one purpose cannot be opened as another. Format: `v1.<nonce>.<ciphertext+tag>` (base64url).
 */
export interface SecretBox {
  seal(plaintext: string, purpose: string): string;
  /** Throws when the value was altered, sealed under another secret, or for another purpose. */
  open(sealed: string, purpose: string): string;
  /** A 32-byte key for another use (HMACs such as CSRF tokens), derived from TESSERA_SECRET for that purpose alone. */
  deriveKey(purpose: string): Buffer;
}

export function createSecretBox(secret: string): SecretBox {
  if (secret.length < 32) throw new Error('TESSERA_SECRET must be at least 32 characters');
  const key = Buffer.from(hkdfSync('sha256', secret, 'tessera', 'secret-box v1', 32));
  return {
    deriveKey: (purpose) => Buffer.from(hkdfSync('sha256', secret, 'tessera', `derived v1: ${purpose}`, 32)),
    seal(plaintext, purpose) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(Buffer.from(purpose));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `v1.${nonce.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(sealed, purpose) {
      const [version, nonce, body] = sealed.split('.');
      if (version !== 'v1' || !nonce || !body) throw new Error('secret-box: not a sealed value');
      const bytes = Buffer.from(body, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'));
      decipher.setAAD(Buffer.from(purpose));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
    },
  };
}

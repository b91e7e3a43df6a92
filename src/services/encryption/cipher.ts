import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { AppError } from '../../lib/errors';

/**
 * Any failure to decrypt: tampered, truncated, malformed, unknown key, wrong key or
 * wrong associated data. One type, one message, so callers (and attackers) learn
 * nothing about which check failed.
 */
export class DecryptionError extends AppError {
  constructor(cause?: unknown) {
    super({
      code: 'decryption-failed',
      status: 500,
      title: 'Internal Server Error',
      detail: 'Stored data could not be decrypted.',
      operational: false,
      cause,
    });
    this.name = 'DecryptionError';
  }
}

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const FORMAT_VERSION = 'v1';

export interface GcmResult {
  ciphertext: Buffer;
  tag: Buffer;
}

/** The AES-256-GCM primitive (exported for known-answer tests): explicit IV, optional AAD. */
export function gcmEncrypt(key: KeyObject | Buffer, iv: Buffer, plaintext: Buffer, aad?: Buffer): GcmResult {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  if (aad && aad.length) c.setAAD(aad);
  const ciphertext = joined(c.update(plaintext), c.final());
  return { ciphertext, tag: c.getAuthTag() };
}

/** Any failure (bad tag, short tag, wrong key or AAD) is one DecryptionError: callers need no try/catch of their own. */
export function gcmDecrypt(key: KeyObject | Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad?: Buffer): Buffer {
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    if (aad && aad.length) d.setAAD(aad);
    d.setAuthTag(tag);
    return joined(d.update(ciphertext), d.final());
  } catch (err) {
    throw new DecryptionError(err);
  }
}

/** GCM's final() is empty: skip the copy a concat would make. */
const joined = (a: Buffer, b: Buffer): Buffer => (b.length === 0 ? a : Buffer.concat([a, b]));

export interface SealedParts {
  keyId: string;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** `v1.<keyId>.<iv>.<tag>.<ciphertext>`, binary parts base64url: self-describing, so a stored value names its key. */
export function formatSealed(p: SealedParts): string {
  return `${FORMAT_VERSION}.${p.keyId}.${p.iv.toString('base64url')}.${p.tag.toString('base64url')}.${p.ciphertext.toString('base64url')}`;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Unpadded base64url is canonical when its length is possible and the unused low bits of
 * the last character are zero; otherwise two strings decode to the same bytes, and a
 * changed character would go unnoticed. Checked without re-encoding the whole value.
 */
function isCanonicalB64url(s: string): boolean {
  const rem = s.length % 4;
  if (rem === 1) return false;
  if (rem === 0) return true;
  const last = B64URL_ALPHABET.indexOf(s[s.length - 1]);
  return rem === 2 ? (last & 0x0f) === 0 : (last & 0x03) === 0;
}

/** Parses the stored format strictly; anything off is a DecryptionError. */
export function parseSealed(stored: string): SealedParts {
  const parts = typeof stored === 'string' ? stored.split('.') : [];
  if (parts.length !== 5 || parts[0] !== FORMAT_VERSION) throw new DecryptionError();
  const [, keyId, iv, tag, ct] = parts;
  if (!B64URL.test(iv) || !B64URL.test(tag)) throw new DecryptionError();
  for (const p of [iv, tag, ct]) if (!isCanonicalB64url(p)) throw new DecryptionError();
  const sealed = {
    keyId,
    iv: Buffer.from(iv, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
    ciphertext: Buffer.from(ct, 'base64url'),
  };
  // The decoder skips characters outside the alphabet, so a decoded length short of what
  // the text length implies reveals them without a regex pass over a long ciphertext.
  if (
    sealed.iv.length !== IV_BYTES ||
    sealed.tag.length !== TAG_BYTES ||
    sealed.ciphertext.length !== Math.floor((ct.length * 3) / 4)
  ) {
    throw new DecryptionError();
  }
  return sealed;
}

export function freshIv(): Buffer {
  return randomBytes(IV_BYTES);
}

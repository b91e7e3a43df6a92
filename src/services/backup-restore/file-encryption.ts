/**
 * Encryption at rest of backup files: AES-256-GCM over the whole (gzip) file, streamed.
 *
 * Stored file = header (magic `ERPBAK`, format byte 0x01, 12-byte IV; 19 bytes) + ciphertext + 16-byte tag.
 * The AAD is the header plus `backup:<id>:<relative path>`, so a file cannot be moved to another
 * backup or swapped with another collection's file without the tag check failing.
 */
import { createCipheriv, createDecipheriv, randomBytes, type DecipherGCM } from 'node:crypto';

export const ENCRYPTED_MAGIC = Buffer.from('ERPBAK', 'ascii');
export const ENCRYPTED_FORMAT = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const HEADER_BYTES = ENCRYPTED_MAGIC.length + 1 + IV_BYTES;

export class BackupDecryptionError extends Error {
  override name = 'BackupDecryptionError';
}

export function fileAad(backupId: string, relPath: string): Buffer {
  return Buffer.from(`backup:${backupId}:${relPath}`, 'utf8');
}

/** Encrypts a byte stream; yields header, ciphertext chunks and the tag. */
export async function* encryptStream(
  source: AsyncIterable<Uint8Array>,
  dataKey: Buffer,
  aad: Buffer,
): AsyncGenerator<Buffer> {
  const iv = randomBytes(IV_BYTES);
  const header = Buffer.concat([ENCRYPTED_MAGIC, Buffer.from([ENCRYPTED_FORMAT]), iv]);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
  cipher.setAAD(Buffer.concat([header, aad]));
  yield header;
  for await (const chunk of source) {
    const out = cipher.update(chunk);
    if (out.length > 0) yield out;
  }
  const last = cipher.final();
  if (last.length > 0) yield last;
  yield cipher.getAuthTag();
}

/**
 * Decrypts a stream written by `encryptStream`. The last 16 bytes (the tag) are held back until the
 * end; a wrong key, a changed byte or a truncated file throws BackupDecryptionError at the end, so
 * callers that must not act on unauthenticated plaintext authenticate the file in a first pass
 * (BackupEngine.verifyChecksums does).
 */
export async function* decryptStream(
  source: AsyncIterable<Uint8Array>,
  dataKey: Buffer,
  aad: Buffer,
): AsyncGenerator<Buffer> {
  let head: Buffer = Buffer.alloc(0);
  let decipher: DecipherGCM | undefined;
  let tail: Buffer = Buffer.alloc(0);
  for await (const raw of source) {
    let chunk: Buffer = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    if (!decipher) {
      head = Buffer.concat([head, chunk]);
      if (head.length < HEADER_BYTES) continue;
      const header = head.subarray(0, HEADER_BYTES);
      if (!header.subarray(0, ENCRYPTED_MAGIC.length).equals(ENCRYPTED_MAGIC) || header[6] !== ENCRYPTED_FORMAT) {
        throw new BackupDecryptionError('not an encrypted backup file (bad header)');
      }
      decipher = createDecipheriv('aes-256-gcm', dataKey, header.subarray(7, HEADER_BYTES), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.concat([header, aad]));
      chunk = head.subarray(HEADER_BYTES);
    }
    const data = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
    if (data.length <= TAG_BYTES) {
      tail = data;
      continue;
    }
    tail = data.subarray(data.length - TAG_BYTES);
    const out = decipher.update(data.subarray(0, data.length - TAG_BYTES));
    if (out.length > 0) yield out;
  }
  if (!decipher || tail.length < TAG_BYTES) throw new BackupDecryptionError('encrypted backup file is truncated');
  decipher.setAuthTag(tail);
  let last: Buffer;
  try {
    last = decipher.final();
  } catch {
    throw new BackupDecryptionError('backup file failed authentication (wrong key or modified file)');
  }
  if (last.length > 0) yield last;
}

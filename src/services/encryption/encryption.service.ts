import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import type { Logger } from '../../lib/logger';
import { DecryptionError, formatSealed, freshIv, gcmDecrypt, gcmEncrypt, parseSealed } from './cipher';
import type { KeyProvider, Keyring } from './keyring';
import type { PasswordHasher } from './password-hasher';
import { mask, maskEmail, maskPhone, maskTail, type MaskKind } from './masking';
import type { FieldCipher } from './field-encryption.plugin';
import type { RotatingCipher } from './key-rotation';

export { DecryptionError };

export interface EncryptionServiceDeps {
  keyProvider: KeyProvider;
  /** HMAC-SHA256 key for blind indexes; separate from the encryption keys. */
  blindIndexKey: Buffer;
  passwords: PasswordHasher;
  logger: Logger;
}

/**
 * Authenticated field-level encryption (AES-256-GCM, fresh 96-bit IV per value,
 * optional associated data binding a value to its document and field), blind indexes
 * for equality lookups, password hashing and PII masking. Keys come from a KeyProvider
 * and are loaded once by init().
 */
export class EncryptionService implements FieldCipher, RotatingCipher {
  private ring?: Keyring;
  private readonly blindKey: KeyObject;

  private readonly deps: Omit<EncryptionServiceDeps, 'blindIndexKey'>;

  constructor({ blindIndexKey, ...deps }: EncryptionServiceDeps) {
    if (blindIndexKey.length < 32) throw new Error('blind index key must be at least 32 bytes');
    // Keys are held as KeyObjects only: inspecting or serialising the service shows no key bytes.
    this.blindKey = createSecretKey(blindIndexKey);
    this.deps = deps;
  }

  [inspect.custom](): string {
    return `EncryptionService(${this.ring ? `keys ${this.ring.ids.join(', ')}; active ${this.ring.activeKeyId}` : 'not initialised'})`;
  }

  async init(): Promise<void> {
    this.ring = await this.deps.keyProvider.load();
    this.deps.logger.info({ keyring: this.ring.toJSON() }, 'encryption keyring loaded');
  }

  private get keyring(): Keyring {
    if (!this.ring) throw new Error('EncryptionService used before init()');
    return this.ring;
  }

  get activeKeyId(): string {
    return this.keyring.activeKeyId;
  }

  get keyIds(): string[] {
    return this.keyring.ids;
  }

  encrypt(plaintext: string, aad?: string): string {
    const { id, key } = this.keyring.active;
    const iv = freshIv();
    const { ciphertext, tag } = gcmEncrypt(
      key,
      iv,
      Buffer.from(plaintext, 'utf8'),
      aad === undefined ? undefined : Buffer.from(aad, 'utf8'),
    );
    return formatSealed({ keyId: id, iv, tag, ciphertext });
  }

  decrypt(stored: string, aad?: string): string {
    const sealed = parseSealed(stored);
    const key = this.keyring.get(sealed.keyId);
    if (!key) throw new DecryptionError();
    return gcmDecrypt(
      key,
      sealed.iv,
      sealed.ciphertext,
      sealed.tag,
      aad === undefined ? undefined : Buffer.from(aad, 'utf8'),
    ).toString('utf8');
  }

  keyIdOf(stored: string): string {
    return parseSealed(stored).keyId;
  }

  needsReEncryption(stored: string): boolean {
    return this.keyIdOf(stored) !== this.activeKeyId;
  }

  reEncrypt(stored: string, aad?: string): string {
    return this.needsReEncryption(stored) ? this.encrypt(this.decrypt(stored, aad), aad) : stored;
  }

  /**
   * Deterministic HMAC of a normalised value, separated per field (`context`), so equal
   * values can be found without storing them; the same value in two fields differs.
   */
  blindIndex(context: string, value: string): string {
    const normalised = value.normalize('NFKC').trim().toLowerCase();
    return createHmac('sha256', this.blindKey).update(context).update('\u0000').update(normalised).digest('base64url');
  }

  hashPassword(password: string): Promise<string> {
    return this.deps.passwords.hash(password);
  }

  verifyPassword(password: string, hash: string): Promise<boolean> {
    return this.deps.passwords.verify(password, hash);
  }

  readonly mask = {
    tail: maskTail,
    email: maskEmail,
    phone: maskPhone,
    byKind: (kind: MaskKind, v: unknown) => mask(kind, v),
  };
}

import { createSecretKey, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';

/** Key ids appear inside every stored value (`v1.<keyId>.…`), so they must not contain the separator. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export interface KeyringKey {
  id: string;
  key: KeyObject;
}

/**
 * Versioned 32-byte AES keys, one of them active for new data. Key material lives in
 * KeyObjects and never prints: inspect and JSON show ids only.
 */
export class Keyring {
  private readonly byId: Map<string, KeyObject>;

  constructor(
    keys: KeyringKey[],
    readonly activeKeyId: string,
  ) {
    if (keys.length === 0) throw new Error('keyring: no keys');
    for (const k of keys) {
      if (!KEY_ID_PATTERN.test(k.id))
        throw new Error(`keyring: key id ${JSON.stringify(k.id)} must be 1-32 of [A-Za-z0-9_-]`);
      if (keys.filter((o) => o.id === k.id).length > 1) throw new Error(`keyring: key id ${k.id} appears twice`);
      if (k.key.symmetricKeySize !== 32) throw new Error(`keyring: key ${k.id} is not 32 bytes`);
    }
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
    if (!this.byId.has(activeKeyId)) throw new Error(`keyring: active key ${activeKeyId} is not in the ring`);
  }

  get ids(): string[] {
    return [...this.byId.keys()];
  }

  get active(): KeyringKey {
    return { id: this.activeKeyId, key: this.byId.get(this.activeKeyId) as KeyObject };
  }

  get(id: string): KeyObject | undefined {
    return this.byId.get(id);
  }

  toJSON(): { keyIds: string[]; activeKeyId: string } {
    return { keyIds: this.ids, activeKeyId: this.activeKeyId };
  }

  [inspect.custom](): string {
    return `Keyring(${this.ids.join(', ')}; active ${this.activeKeyId})`;
  }
}

/**
 * Where keys come from. Static config today; a KMS-backed provider (unwrapping data keys
 * at boot) implements the same interface without touching callers.
 */
export interface KeyProvider {
  load(): Promise<Keyring>;
}

/** Keys from configuration. They become KeyObjects at once: the provider holds no raw bytes. */
export class StaticKeyProvider implements KeyProvider {
  private readonly keyring: Keyring;

  constructor(keys: Array<{ id: string; key: Buffer }>, activeKeyId: string) {
    this.keyring = new Keyring(
      keys.map((k) => ({ id: k.id, key: createSecretKey(k.key) })),
      activeKeyId,
    );
  }

  async load(): Promise<Keyring> {
    return this.keyring;
  }

  [inspect.custom](): string {
    return `StaticKeyProvider(${this.keyring.ids.join(', ')})`;
  }
}

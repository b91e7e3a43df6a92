import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/lib/logger';
import { EncryptionService } from '../../src/services/encryption/encryption.service';
import { StaticKeyProvider } from '../../src/services/encryption/keyring';
import { PasswordHasher } from '../../src/services/encryption/password-hasher';

/** An initialised EncryptionService over a static key ring whose active key is `active`. */
export async function encryptionService(
  keys: Array<{ id: string; key: Buffer }>,
  active: string,
  blindIndexKey: Buffer = randomBytes(32),
): Promise<EncryptionService> {
  const svc = new EncryptionService({
    keyProvider: new StaticKeyProvider(keys, active),
    blindIndexKey,
    passwords: new PasswordHasher(10),
    logger: createLogger({ level: 'silent' }),
  });
  await svc.init();
  return svc;
}

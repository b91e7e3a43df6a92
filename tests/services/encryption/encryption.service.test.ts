import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { DecryptionError, parseSealed } from '../../../src/services/encryption/cipher';
import { StaticKeyProvider } from '../../../src/services/encryption/keyring';
import { PasswordHasher } from '../../../src/services/encryption/password-hasher';
import { EncryptionService } from '../../../src/services/encryption/encryption.service';
import { createLogger } from '../../../src/lib/logger';
import { leakedIn } from '../../support/secrets';

function service(keys = [{ id: 'k1', key: randomBytes(32) }], active = 'k1'): Promise<EncryptionService> {
  const svc = new EncryptionService({
    keyProvider: new StaticKeyProvider(keys, active),
    blindIndexKey: randomBytes(32),
    passwords: new PasswordHasher(10),
    logger: createLogger({ level: 'silent' }),
  });
  return svc.init().then(() => svc);
}

describe('EncryptionService', () => {
  it('when a value is encrypted twice, then the IVs differ and both decrypt', async () => {
    const svc = await service();
    const a = svc.encrypt('DE89 3704 0044 0532 0130 00', 'employees/1/bankAccount');
    const b = svc.encrypt('DE89 3704 0044 0532 0130 00', 'employees/1/bankAccount');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(parseSealed(a).iv.equals(parseSealed(b).iv)).toBe(false);
    expect(svc.decrypt(a, 'employees/1/bankAccount')).toBe('DE89 3704 0044 0532 0130 00');
  });

  it('when any single character of a stored value is changed, then DecryptionError with one message', async () => {
    const svc = await service();
    const stored = svc.encrypt('123-45-6789 ünïcødé', 'employees/7/nationalId');
    const messages = new Set<string>();
    for (let i = 0; i < stored.length; i++) {
      const c = stored[i];
      const replacement = c === 'A' ? 'B' : c === '.' ? '_' : 'A';
      const tampered = stored.slice(0, i) + replacement + stored.slice(i + 1);
      let thrown: unknown;
      try {
        svc.decrypt(tampered, 'employees/7/nationalId');
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(DecryptionError);
      messages.add((thrown as Error).message);
    }
    expect([...messages]).toEqual(['Stored data could not be decrypted.']);
  });

  it('when a value is truncated, moved to another document or field, or read without its AAD, then DecryptionError', async () => {
    const svc = await service();
    const stored = svc.encrypt('secret', 'employees/1/nationalId');
    for (const attempt of [
      () => svc.decrypt(stored.slice(0, -2), 'employees/1/nationalId'),
      () => svc.decrypt(stored, 'employees/2/nationalId'),
      () => svc.decrypt(stored, 'employees/1/bankAccount'),
      () => svc.decrypt(stored),
      () => svc.decrypt('v1.k1.bad', 'x'),
      () => svc.decrypt(stored.slice(0, -6) + '!' + stored.slice(-5), 'employees/1/nationalId'),
      () => svc.decrypt(stored + '==', 'employees/1/nationalId'),
      () => svc.decrypt('', 'x'),
    ]) {
      expect(attempt).toThrow(DecryptionError);
    }
  });

  it('when decrypting with a ring that lacks the key or has another key under the same id, then DecryptionError', async () => {
    const a = await service([{ id: 'k1', key: randomBytes(32) }]);
    const b = await service([{ id: 'k1', key: randomBytes(32) }]);
    const c = await service([{ id: 'k9', key: randomBytes(32) }], 'k9');
    const stored = a.encrypt('x');
    expect(() => b.decrypt(stored)).toThrow(DecryptionError);
    expect(() => c.decrypt(stored)).toThrow(DecryptionError);
  });

  it('when the keyring or service is inspected or serialised, then no key material shows', async () => {
    const key = randomBytes(32);
    const blind = randomBytes(32);
    const pepper = randomBytes(32);
    const provider = new StaticKeyProvider([{ id: 'k1', key }], 'k1');
    const peppered = new PasswordHasher(10, pepper);
    const svc = new EncryptionService({
      keyProvider: provider,
      blindIndexKey: blind,
      passwords: peppered,
      logger: createLogger({ level: 'silent' }),
    });
    await svc.init();
    const { inspect } = await import('node:util');
    const shown = [
      inspect(svc, { depth: 10, showHidden: true }),
      inspect(provider, { depth: 10 }),
      inspect(peppered, { depth: 10 }),
      JSON.stringify(await provider.load()),
      JSON.stringify(svc),
      JSON.stringify(peppered),
    ].join('\n');
    expect(leakedIn(shown, { key, pepper, blind })).toEqual([]);
    expect(inspect(svc)).toBe('EncryptionService(keys k1; active k1)');
  });

  it('when blind indexes are computed, then they are deterministic, normalised and field-separated', async () => {
    const svc = await service();
    expect(svc.blindIndex('employees.nationalId', ' AB123 ')).toBe(svc.blindIndex('employees.nationalId', 'ab123'));
    expect(svc.blindIndex('employees.nationalId', 'ab123')).not.toBe(svc.blindIndex('employees.bankAccount', 'ab123'));
  });

  it('when Python cryptography (independent AES-GCM) reads what we wrote and writes for us, then both agree', async () => {
    const key = randomBytes(32);
    const svc = await service([{ id: 'k1', key }]);
    const aad = 'users/42/totpSecret';
    const stored = svc.encrypt('JBSWY3DPEHPK3PXP — ключ', aad);
    const script = `
import sys, base64, os
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
def b64u(s): return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
def e64u(b): return base64.urlsafe_b64encode(b).decode().rstrip('=')
key = bytes.fromhex(sys.argv[1]); stored = sys.argv[2]; aad = sys.argv[3].encode()
v, kid, iv, tag, ct = stored.split('.')
print(AESGCM(key).decrypt(b64u(iv), b64u(ct) + b64u(tag), aad).decode())
iv2 = os.urandom(12)
out = AESGCM(key).encrypt(iv2, 'from python ✓'.encode(), aad)
print('.'.join(['v1', kid, e64u(iv2), e64u(out[-16:]), e64u(out[:-16])]))
`;
    const r = spawnSync('python3', ['-c', script, key.toString('hex'), stored, aad], { encoding: 'utf8' });
    if (r.status !== 0)
      throw new Error(
        `python3 with the cryptography package is required (scripts/ensure-test-tools.sh installs it): ${r.stderr}`,
      );
    const [decrypted, fromPython] = r.stdout.trim().split('\n');
    expect(decrypted).toBe('JBSWY3DPEHPK3PXP — ключ');
    expect(svc.decrypt(fromPython, aad)).toBe('from python ✓');
  });
});

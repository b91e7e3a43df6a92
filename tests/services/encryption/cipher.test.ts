import { createSecretKey, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { DecryptionError, gcmDecrypt, gcmEncrypt, parseSealed } from '../../../src/services/encryption/cipher';
import { StaticKeyProvider } from '../../../src/services/encryption/keyring';
import { PasswordHasher } from '../../../src/services/encryption/password-hasher';
import { EncryptionService } from '../../../src/services/encryption/encryption.service';
import { createLogger } from '../../../src/lib/logger';
import { leakedIn } from '../../support/secrets';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/**
 * AES-256 test cases 13–18 of "The Galois/Counter Mode of Operation (GCM)", McGrew & Viega
 * (the vectors NIST's GCM validation set also carries). 17 and 18 use 64-bit and 480-bit IVs,
 * which go through GHASH instead of the 96-bit fast path.
 */
const K15 = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const P15 =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const C15 =
  '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';
const VECTORS = [
  {
    name: 'TC13',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    pt: '',
    aad: '',
    ct: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'TC14',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    pt: '00'.repeat(16),
    aad: '',
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'TC15',
    key: K15,
    iv: 'cafebabefacedbaddecaf888',
    pt: P15,
    aad: '',
    ct: C15,
    tag: 'b094dac5d93471bdec1a502270e3cc6c',
  },
  {
    name: 'TC16',
    key: K15,
    iv: 'cafebabefacedbaddecaf888',
    pt: P15.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    ct: C15.slice(0, 120),
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
  {
    name: 'TC17',
    key: K15,
    iv: 'cafebabefacedbad',
    pt: P15.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    ct: 'c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f',
    tag: '3a337dbf46a792c45e454913fe2ea8f2',
  },
  {
    name: 'TC18',
    key: K15,
    iv: '9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b',
    pt: P15.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    ct: '5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf40fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f',
    tag: 'a44a8266ee1c8eb0c8b5d4cf5ae9f19a',
  },
];

function service(keys = [{ id: 'k1', key: randomBytes(32) }], active = 'k1'): Promise<EncryptionService> {
  const svc = new EncryptionService({
    keyProvider: new StaticKeyProvider(keys, active),
    blindIndexKey: randomBytes(32),
    passwords: new PasswordHasher(10),
    logger: createLogger({ level: 'silent' }),
  });
  return svc.init().then(() => svc);
}

describe('AES-256-GCM primitive', () => {
  it.each(VECTORS)(
    'when given published vector $name, then it reproduces ciphertext and tag and decrypts back',
    (v) => {
      const out = gcmEncrypt(createSecretKey(hex(v.key)), hex(v.iv), hex(v.pt), v.aad ? hex(v.aad) : undefined);
      expect(out.ciphertext.toString('hex')).toBe(v.ct);
      expect(out.tag.toString('hex')).toBe(v.tag);
      expect(
        gcmDecrypt(
          createSecretKey(hex(v.key)),
          hex(v.iv),
          hex(v.ct),
          hex(v.tag),
          v.aad ? hex(v.aad) : undefined,
        ).toString('hex'),
      ).toBe(v.pt);
    },
  );

  it.each(VECTORS.filter((v) => v.pt.length > 0))(
    'when vector $name is altered (tag bit, ciphertext bit, AAD, truncated tag, wrong key), then DecryptionError',
    (v) => {
      const key = createSecretKey(hex(v.key));
      const aad = v.aad ? hex(v.aad) : undefined;
      const flip = (b: Buffer, i: number): Buffer => {
        const c = Buffer.from(b);
        c[i] ^= 1;
        return c;
      };
      const attempts = [
        () => gcmDecrypt(key, hex(v.iv), hex(v.ct), flip(hex(v.tag), 0), aad),
        () => gcmDecrypt(key, hex(v.iv), flip(hex(v.ct), hex(v.ct).length - 1), hex(v.tag), aad),
        () => gcmDecrypt(key, hex(v.iv), hex(v.ct), hex(v.tag), aad ? flip(aad, 0) : Buffer.from('x')),
        () => gcmDecrypt(key, hex(v.iv), hex(v.ct), hex(v.tag).subarray(0, 12), aad),
        () => gcmDecrypt(createSecretKey(randomBytes(32)), hex(v.iv), hex(v.ct), hex(v.tag), aad),
      ];
      for (const attempt of attempts) expect(attempt).toThrow(DecryptionError);
    },
  );
});

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

describe('PasswordHasher', () => {
  it('when a password is 128 characters the way people count them (emoji are two UTF-16 units), then it hashes and verifies', async () => {
    const hasher = new PasswordHasher(10);
    const emoji = '🔐'.repeat(100) + 'x'.repeat(28);
    expect([...emoji].length).toBe(128);
    const hash = await hasher.hash(emoji);
    expect(await hasher.verify(emoji, hash)).toBe(true);
    expect(await hasher.verify('🔐'.repeat(99) + 'x'.repeat(28), hash)).toBe(false);
    await expect(hasher.hash(emoji + 'y')).rejects.toThrow(/longer than 128/);
  });

  it('when two long passwords share their first 72 bytes, then neither verifies against the other', async () => {
    const hasher = new PasswordHasher(10);
    const prefix = 'x'.repeat(72);
    const hash = await hasher.hash(prefix + 'tail-one');
    expect(await hasher.verify(prefix + 'tail-one', hash)).toBe(true);
    expect(await hasher.verify(prefix + 'tail-two', hash)).toBe(false);
  });

  it('when the cost is below 10, then construction is refused; when the cost changes, then old hashes still verify', async () => {
    expect(() => new PasswordHasher(9)).toThrow();
    const old = await new PasswordHasher(10).hash('correct horse battery staple');
    const hasher = new PasswordHasher(11);
    expect(await hasher.verify('correct horse battery staple', old)).toBe(true);
    expect(hasher.needsRehash(old)).toBe(true);
  });

  it('when a password is longer than 128 characters, then hashing refuses and verify is false', async () => {
    const hasher = new PasswordHasher(10);
    await expect(hasher.hash('y'.repeat(129))).rejects.toThrow();
    expect(await hasher.verify('y'.repeat(129), await hasher.hash('y'.repeat(128)))).toBe(false);
  });
});

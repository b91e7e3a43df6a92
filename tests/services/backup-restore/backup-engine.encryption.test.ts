import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BSON } from 'mongodb';
import { digestCollection } from '../../../src/services/backup-restore/backup-engine';
import type { BackupManifest } from '../../../src/services/backup-restore/backup.types';
import type { EncryptionService } from '../../../src/services/encryption/encryption.service';
import { seededBackupWorld, SEEDED_COLLECTIONS, tempDir, type SeededBackupWorld } from '../../support/backup-fixtures';
import { encryptionService } from '../../support/encryption';
import { mongoTools, restoreDumpInto } from '../../support/mongo-tools';

const { tools, reason } = mongoTools();
if (!tools) console.warn(`backup interop tests skipped: ${reason}`);
const itWithTools = tools ? it : it.skip;

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };
let before: EncryptionService;
let world: SeededBackupWorld;
let root: string;
let manifest: BackupManifest;

beforeAll(async () => {
  before = await encryptionService([k1], 'k1');
  world = await seededBackupWorld(__filename, { documents: 80, tempPrefix: 'backup-encryption', encryption: before });
  root = world.root;
  manifest = await world.engine({ encryptAtRest: true }).create({ id: 'enc-1', kind: 'weekly', root });
});

afterAll(() => world.close());

async function expectSameAsSource(dbName: string): Promise<void> {
  for (const name of SEEDED_COLLECTIONS) {
    expect(await digestCollection(world.client.db(dbName), name)).toEqual(await digestCollection(world.db, name));
  }
}

/** AES-256-GCM by Python's `cryptography`, an implementation independent of Node's. */
function pythonDecrypt(file: string, key: Buffer, aad: string): Buffer {
  const script = `
import sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
data = open(sys.argv[1], 'rb').read()
header, body = data[:19], data[19:]
assert header[:6] == b'ERPBAK' and header[6] == 1
sys.stdout.buffer.write(AESGCM(bytes.fromhex(sys.argv[2])).decrypt(header[7:19], body, header + sys.argv[3].encode()))
`;
  const r = spawnSync('python3', ['-c', script, file, key.toString('hex'), aad], { maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python3 AES-GCM failed: ${r.stderr.toString()}`);
  return r.stdout;
}

describe('BackupEngine encryption at rest', () => {
  it('when encryption is on, then no file is gzip or BSON readable and the manifest holds only the wrapped data key', async () => {
    expect(manifest.encryption).toMatchObject({ algorithm: 'aes-256-gcm', keyId: 'k1' });
    expect(before.keyIdOf(manifest.encryption!.wrappedDataKey)).toBe('k1');
    const dataKey = Buffer.from(before.decrypt(manifest.encryption!.wrappedDataKey, 'backup:enc-1'), 'base64');
    expect(dataKey).toHaveLength(32);
    const manifestText = await fs.readFile(path.join(root, 'enc-1', 'manifest.json'), 'utf8');
    expect(manifestText).not.toContain(dataKey.toString('base64'));
    expect(manifestText).not.toContain(dataKey.toString('hex'));

    for (const c of manifest.collections) {
      const stored = await fs.readFile(path.join(root, 'enc-1', c.bson.path));
      expect(stored.subarray(0, 6).toString()).toBe('ERPBAK');
      expect(() => gunzipSync(stored)).toThrow();
      expect(stored.includes(Buffer.from('Employee 1'))).toBe(false);
      // The format is plain AES-256-GCM: an independent implementation opens it with the data key.
      const plain = gunzipSync(
        pythonDecrypt(path.join(root, 'enc-1', c.bson.path), dataKey, `backup:enc-1:${c.bson.path}`),
      );
      const first = BSON.deserialize(plain.subarray(0, plain.readInt32LE(0)));
      expect(first).toHaveProperty('_id');
    }
    expect((await world.engine().verifyChecksums(path.join(root, 'enc-1'))).ok).toBe(true);
  });

  it('when the keyring has rotated to a new active key, then a backup made before still verifies and restores', async () => {
    const after = await encryptionService([k1, k2], 'k2');
    const engine = world.engine({ encryption: after, encryptAtRest: true });
    expect(await engine.verifyByRestore(path.join(root, 'enc-1'), world.otherDb('scratch'))).toMatchObject({
      ok: true,
    });
    const target = world.otherDb('rotated');
    await engine.restore(path.join(root, 'enc-1'), { toDb: target });
    await expectSameAsSource(target);
    const newer = await engine.create({ id: 'enc-2', kind: 'daily', root });
    expect(newer.encryption?.keyId).toBe('k2');
  });

  it('when the key is wrong or unknown, then verification fails and restore and decrypt refuse without writing', async () => {
    const wrongMaterial = await encryptionService([{ id: 'k1', key: randomBytes(32) }], 'k1');
    const unknownKey = await encryptionService([k2], 'k2');
    for (const enc of [wrongMaterial, unknownKey]) {
      const engine = world.engine({ encryption: enc });
      const record = await engine.verifyChecksums(path.join(root, 'enc-1'));
      expect(record.ok).toBe(false);
      expect(record.problems).toEqual(['the data key cannot be unwrapped (key k1)']);
      const target = world.otherDb('wrongkey');
      await expect(engine.restore(path.join(root, 'enc-1'), { toDb: target })).rejects.toMatchObject({
        code: 'backup-verification-failed',
      });
      expect(await world.client.db(target).listCollections().toArray()).toEqual([]);
      const out = tempDir('decrypt-wrong');
      await expect(engine.decrypt(path.join(root, 'enc-1'), out)).rejects.toMatchObject({
        code: 'backup-verification-failed',
      });
      expect(await fs.readdir(out)).toEqual([]);
      await fs.rm(out, { recursive: true });
    }
  });

  it('when ciphertext is changed and the manifest checksum forged to match, then the GCM tag still rejects it', async () => {
    const dir = path.join(root, 'forged');
    await fs.cp(path.join(root, 'enc-1'), dir, { recursive: true });
    const entry = manifest.collections.find((c) => c.collection === 'employees')!;
    const abs = path.join(dir, entry.bson.path);
    const bytes = await fs.readFile(abs);
    bytes[100]! ^= 0x01;
    await fs.writeFile(abs, bytes);
    const forged: BackupManifest = {
      ...manifest,
      collections: manifest.collections.map((c) =>
        c === entry ? { ...c, bson: { ...c.bson, sha256: createHash('sha256').update(bytes).digest('hex') } } : c,
      ),
    };
    await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(forged));
    const record = await world.engine().verifyChecksums(dir);
    expect(record.problems).toEqual([
      `${entry.bson.path}: backup file failed authentication (wrong key or modified file)`,
    ]);
    const target = world.otherDb('forged');
    await expect(world.engine().restore(dir, { toDb: target })).rejects.toMatchObject({
      code: 'backup-verification-failed',
    });
    expect(await world.client.db(target).listCollections().toArray()).toEqual([]);
  });

  itWithTools(
    'when an encrypted backup is decrypted, then mongorestore --gzip --noIndexRestore restores the plain directory',
    async () => {
      const out = tempDir('decrypted');
      try {
        await world.engine().decrypt(path.join(root, 'enc-1'), out);
        const target = world.otherDb('decrypted');
        restoreDumpInto(tools!, path.join(out, 'dump'), world.dbName, target);
        await expectSameAsSource(target);
      } finally {
        await fs.rm(out, { recursive: true, force: true });
      }
    },
  );
});

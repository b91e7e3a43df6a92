import { promises as fs, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BSON } from 'mongodb';
import { digestCollection } from '../../../src/services/backup-restore/backup-engine';
import { collectionPaths } from '../../../src/services/backup-restore/dump-format';
import {
  indexShapes,
  seededBackupWorld,
  SEEDED_COLLECTIONS,
  tempDir,
  type SeededBackupWorld,
} from '../../support/backup-fixtures';
import { mongoServerUrl, mongoTools, restoreDumpInto } from '../../support/mongo-tools';

// The real mongo-tools are the peer here; without them (no PATH tools, MONGO_TOOLS_BIN or
// MONGO_TOOLS_SRC) these tests are skipped, as listed in tests/skip-allowlist.json.
const { tools, reason } = mongoTools();
if (!tools) console.warn(`backup interop tests skipped: ${reason}`);
const itWithTools = tools ? it : it.skip;

let world: SeededBackupWorld;
let root: string;

beforeAll(async () => {
  world = await seededBackupWorld(__filename, { documents: 150, tempPrefix: 'backup-interop' });
  root = world.root;
});

afterAll(() => world.close());

async function expectSameAsSource(dbName: string): Promise<void> {
  const target = world.client.db(dbName);
  const names = (await target.listCollections().toArray()).map((c) => c.name).sort();
  expect(names).toEqual(SEEDED_COLLECTIONS);
  for (const name of SEEDED_COLLECTIONS) {
    expect(await digestCollection(target, name)).toEqual(await digestCollection(world.db, name));
  }
}

describe('BackupEngine interoperability with the real mongo-tools 100.13.0', () => {
  itWithTools(
    'when the engine writes a backup, then mongorestore --gzip --noIndexRestore restores every document into an empty database',
    async () => {
      const manifest = await world.engine().create({ id: 'interop-1', kind: 'manual', root });
      const target = world.otherDb('mongorestore');
      restoreDumpInto(tools!, path.join(root, 'interop-1', 'dump'), world.dbName, target);
      await expectSameAsSource(target);
      expect(manifest.totals.documents).toBe(301);
    },
  );

  itWithTools('when bsondump reads every gunzipped .bson file of a backup, then it finds every document', async () => {
    const manifest = await world.engine().readManifest(path.join(root, 'interop-1'));
    const scratch = tempDir('bsondump');
    try {
      for (const c of manifest.collections) {
        const plain = path.join(scratch, `${c.collection.replace(/\W/g, '_')}.bson`);
        writeFileSync(plain, gunzipSync(await fs.readFile(path.join(root, 'interop-1', c.bson.path))));
        const { stdout, stderr } = tools!.run('bsondump', ['--type=json', plain]);
        const lines = stdout.split('\n').filter(Boolean);
        expect(lines).toHaveLength(c.documents);
        expect(stderr).toContain(`${c.documents} objects found`);
        // Same documents, in _id order, as the engine read them.
        const ids = lines.map((l) => BSON.EJSON.stringify((BSON.EJSON.parse(l) as { _id: unknown })._id));
        const source = await world.db
          .collection(c.collection)
          .find({}, { sort: { _id: 1 }, projection: { _id: 1 } })
          .toArray();
        expect(ids).toEqual(source.map((d) => BSON.EJSON.stringify(d._id)));
      }
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
  });

  itWithTools(
    'when the real mongodump --gzip writes a dump, then the engine restores it (both layouts) with every document and index',
    async () => {
      const out = tempDir('mongodump');
      try {
        tools!.run('mongodump', [
          `--uri=${mongoServerUrl()}`,
          `--db=${world.dbName}`,
          '--gzip',
          `--out=${path.join(out, 'dump')}`,
        ]);
        // mongodump names the files exactly as the engine does (its optional prelude.json aside).
        const files = readdirSync(path.join(out, 'dump', world.dbName))
          .filter((f) => f !== 'prelude.json.gz')
          .sort();
        const ours = SEEDED_COLLECTIONS.flatMap((c) =>
          Object.values(collectionPaths(world.dbName, c)).map((p) => path.basename(p)),
        );
        expect(files).toEqual(ours.sort());

        const layoutWithDump = world.otherDb('from_mongodump');
        const result = await world.engine().restore(out, { toDb: layoutWithDump });
        expect(result.collections.map((c) => [c.collection, c.documents])).toEqual([
          ['audit log/2026', 1],
          ['employees', 150],
          ['invoices', 150],
        ]);
        await expectSameAsSource(layoutWithDump);
        for (const name of SEEDED_COLLECTIONS) {
          expect(await indexShapes(world.client.db(layoutWithDump), name)).toEqual(await indexShapes(world.db, name));
        }

        const layoutWithoutDump = world.otherDb('from_mongodump_out');
        await world.engine().restore(path.join(out, 'dump'), { toDb: layoutWithoutDump });
        await expectSameAsSource(layoutWithoutDump);
      } finally {
        await fs.rm(out, { recursive: true, force: true });
      }
    },
  );

  itWithTools(
    'when a byte of a mongodump file is corrupted, then the engine refuses it and writes nothing',
    async () => {
      const out = tempDir('mongodump-bad');
      try {
        tools!.run('mongodump', [`--uri=${mongoServerUrl()}`, `--db=${world.dbName}`, '--gzip', `--out=${out}`]);
        const file = path.join(out, world.dbName, 'employees.bson.gz');
        const bytes = await fs.readFile(file);
        bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
        await fs.writeFile(file, bytes);
        const target = world.otherDb('from_bad_dump');
        await expect(world.engine().restore(out, { toDb: target })).rejects.toMatchObject({
          code: 'backup-verification-failed',
        });
        expect(await world.client.db(target).listCollections().toArray()).toEqual([]);
      } finally {
        await fs.rm(out, { recursive: true, force: true });
      }
    },
  );
});

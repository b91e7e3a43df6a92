/**
 * A backup run in its own process, for the crash test: it announces FIRST_COLLECTION_DONE once the
 * first collection is on disk and then holds still (the parent SIGKILLs it there, mid-backup).
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { createLogger } from '../../../../src/lib/logger';
import { BackupEngine } from '../../../../src/services/backup-restore/backup-engine';

async function main(): Promise<void> {
  const client = new MongoClient(process.env.TEST_MONGODB_URL!);
  await client.connect();
  const engine = new BackupEngine({
    db: (name) => client.db(name),
    databases: [process.env.BACKUP_DB!],
    encryption: {
      encrypt: () => randomBytes(8).toString('hex'),
      decrypt: () => '',
      keyIdOf: () => 'none',
    },
    encryptAtRest: false,
    appVersion: 'crash-test',
    logger: createLogger({ level: 'silent' }),
  });
  await engine.create({
    id: process.env.BACKUP_ID!,
    kind: 'daily',
    root: process.env.BACKUP_ROOT!,
    onProgress: (p) => {
      if (p.collectionsDone === 1 && p.phase === 'dumping') {
        process.stdout.write('FIRST_COLLECTION_DONE\n');
        // Block the event loop: the backup stays mid-way until the parent kills the process.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120_000);
      }
    },
  });
  process.stdout.write('BACKUP_FINISHED\n');
  await client.close();
}

main().catch((err: unknown) => {
  process.stderr.write(String(err) + '\n');
  process.exit(1);
});

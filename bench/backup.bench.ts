/**
 * Backup engine: peak RSS, docs/s and MB/s for 10k and 100k generated documents, each size in its
 * own child process (clean RSS), against the real `mongodump --gzip` on the same server in the same
 * run. Target: memory stays flat (peak RSS at 100k <= peak RSS at 10k + 32 MiB).
 * Run: `npm run bench` or `node --import tsx bench/backup.bench.ts` (MONGODB_URI to use a server).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON, MongoClient } from 'mongodb';
import { ensureMongo } from '../scripts/local-services';
import { createLogger } from '../src/lib/logger';
import { BackupEngine } from '../src/services/backup-restore/backup-engine';

const ROOT = path.resolve(__dirname, '..');
const SIZES = [10_000, 100_000];
const FLAT_MARGIN_MB = 32;

interface ChildResult {
  documents: number;
  bytes: number;
  ms: number;
  peakRssMb: number;
}

/** Child mode: one backup of `db`, then report timing and peak RSS on stdout. */
async function child(url: string, db: string, root: string, encrypt: boolean): Promise<void> {
  const client = new MongoClient(url);
  await client.connect();
  const engine = new BackupEngine({
    db: (name) => client.db(name),
    databases: [db],
    encryption: {
      // Wrapping is not what is measured; a throwaway wrapper keeps the child free of config.
      encrypt: (plain) => Buffer.from(plain).toString('base64'),
      decrypt: (stored) => Buffer.from(stored, 'base64').toString(),
      keyIdOf: () => 'bench',
    },
    encryptAtRest: encrypt,
    appVersion: 'bench',
    logger: createLogger({ level: 'silent' }),
  });
  const start = process.hrtime.bigint();
  const manifest = await engine.create({ id: 'bench', kind: 'manual', root });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await client.close();
  const result: ChildResult = {
    documents: manifest.totals.documents,
    bytes: manifest.totals.bytes,
    ms,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

function runChild(url: string, db: string, root: string, encrypt: boolean): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', __filename, '--child', url, db, root, encrypt ? 'encrypt' : 'plain'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => {
      if (code !== 0) reject(new Error(`backup child exited ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
    });
  });
}

async function seed(client: MongoClient, db: string, n: number): Promise<void> {
  const coll = client.db(db).collection('bench_docs');
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({
      _id: new BSON.ObjectId(),
      seq: i + j,
      name: `Employee ${i + j}`,
      email: `employee${i + j}@example.test`,
      salary: 3000 + ((i + j) % 5000) / 7,
      hiredAt: new Date(Date.UTC(2020, 0, 1) + (i + j) * 60_000),
      address: { street: `${i + j} Main Street`, city: 'Springfield', zip: String(10000 + ((i + j) % 90000)) },
      notes: randomBytes(96).toString('base64'),
      tags: ['payroll', 'invoice', String((i + j) % 13)],
    }));
    await coll.insertMany(batch);
  }
}

function mongoTools(): string | undefined {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-mongo-tools.sh')], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n').pop() : undefined;
}

async function main(): Promise<void> {
  const mongo = await ensureMongo(process.env, { dataDir: path.join(ROOT, '.data/bench') });
  const url = mongo.url;
  const client = new MongoClient(url);
  await client.connect();
  const tools = mongoTools();
  const work = mkdtempSync(path.join(os.tmpdir(), 'backup-bench-'));
  const rows: Array<Record<string, string | number>> = [];
  const rss: Record<number, number> = {};
  try {
    for (const size of SIZES) {
      const db = `bench_backup_${size}_${randomBytes(3).toString('hex')}`;
      try {
        process.stderr.write(`seeding ${size} documents into ${db}...\n`);
        await seed(client, db, size);
        for (const encrypt of [false, true]) {
          const root = path.join(work, `${size}-${encrypt ? 'enc' : 'plain'}`);
          const r = await runChild(url, db, root, encrypt);
          if (!encrypt) rss[size] = r.peakRssMb;
          rows.push({
            tool: encrypt ? 'engine (encrypted)' : 'engine',
            documents: r.documents,
            seconds: +(r.ms / 1000).toFixed(2),
            'docs/s': Math.round((r.documents / r.ms) * 1000),
            'MB/s (stored)': +(r.bytes / 1024 / 1024 / (r.ms / 1000)).toFixed(2),
            'peak RSS MB': +r.peakRssMb.toFixed(1),
          });
        }
        if (tools) {
          const out = path.join(work, `${size}-mongodump`);
          const start = process.hrtime.bigint();
          const res = spawnSync(
            path.join(tools, 'mongodump'),
            [`--uri=${url}`, `--db=${db}`, '--gzip', `--out=${out}`, '--quiet'],
            {
              encoding: 'utf8',
            },
          );
          const ms = Number(process.hrtime.bigint() - start) / 1e6;
          if (res.status !== 0) throw new Error(`mongodump failed: ${res.stderr}`);
          const stored = (await fs.stat(path.join(out, db, 'bench_docs.bson.gz'))).size;
          rows.push({
            tool: 'mongodump --gzip',
            documents: size,
            seconds: +(ms / 1000).toFixed(2),
            'docs/s': Math.round((size / ms) * 1000),
            'MB/s (stored)': +(stored / 1024 / 1024 / (ms / 1000)).toFixed(2),
            'peak RSS MB': '-',
          });
        }
      } finally {
        await client
          .db(db)
          .dropDatabase()
          .catch(() => undefined);
      }
    }
  } finally {
    await client.close();
    await mongo.stop?.();
    await fs.rm(work, { recursive: true, force: true });
  }
  console.table(rows);
  const growth = rss[100_000]! - rss[10_000]!;
  const flat = growth <= FLAT_MARGIN_MB;
  console.log(
    `peak RSS 10k ${rss[10_000]!.toFixed(1)} MB, 100k ${rss[100_000]!.toFixed(1)} MB: growth ${growth.toFixed(1)} MB ` +
      `(target <= ${FLAT_MARGIN_MB} MB) ${flat ? 'OK' : 'FAIL'}`,
  );
  if (!tools) console.log('mongodump not available: no comparison (scripts/ensure-mongo-tools.sh)');
  if (!flat) process.exitCode = 1;
}

if (process.argv[2] === '--child') {
  const [, , , url, db, root, mode] = process.argv;
  child(url!, db!, root!, mode === 'encrypt').catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

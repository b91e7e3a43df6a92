/**
 * Backup and restore of generated data spread over four collections, for 10,000 and 100,000
 * documents: the BackupEngine (each run in its own process, for a clean peak RSS) against the
 * real mongodump --gzip / mongorestore --gzip on the same server in the same run (MB/s of the
 * stored bytes, documents/s; target: at least as fast), and peak RSS at both sizes (target:
 * flat, at most +32 MiB from 10k to 100k). Input on stdin: { mongoUrl }.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON, MongoClient } from 'mongodb';
import { createLogger } from '../../src/lib/logger';
import { BackupEngine } from '../../src/services/backup-restore/backup-engine';
import { emit, readInput } from '../support/child-json';
import type { Row } from '../support/report';

const ROOT = path.resolve(__dirname, '../..');
const SIZES = (process.env.BENCH_BACKUP_SIZES ?? '10000,100000').split(',').map(Number);
const FLAT_MARGIN_MB = 32;
const COLLECTIONS = ['employees', 'invoices', 'audit_events', 'sessions'];

interface ChildResult {
  documents: number;
  bytes: number;
  ms: number;
  peakRssMb: number;
}

function engineFor(client: MongoClient, db: string): BackupEngine {
  return new BackupEngine({
    db: (name) => client.db(name),
    databases: [db],
    encryption: {
      // Wrapping the data key is not what is measured; a throwaway wrapper keeps the child free of config.
      encrypt: (plain) => Buffer.from(plain).toString('base64'),
      decrypt: (stored) => Buffer.from(stored, 'base64').toString(),
      keyIdOf: () => 'bench',
    },
    encryptAtRest: false,
    appVersion: 'bench',
    logger: createLogger({ level: 'silent' }),
  });
}

/** Child mode: one backup (or restore) with the engine, then timing and peak RSS on stdout. */
async function child(mode: string, url: string, db: string, root: string, toDb: string): Promise<void> {
  const client = new MongoClient(url);
  await client.connect();
  const engine = engineFor(client, db);
  const start = process.hrtime.bigint();
  let documents: number;
  let bytes: number;
  if (mode === 'backup') {
    const manifest = await engine.create({ id: 'bench', kind: 'manual', root });
    documents = manifest.totals.documents;
    bytes = manifest.totals.bytes;
  } else {
    const dir = path.join(root, 'bench');
    const manifest = await engine.readManifest(dir);
    const r = await engine.restore(dir, { toDb });
    documents = r.collections.reduce((s, c) => s + c.documents, 0);
    bytes = manifest.totals.bytes;
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await client.close();
  const result: ChildResult = { documents, bytes, ms, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result) + '\n');
}

function runChild(args: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', __filename, '--child', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => {
      if (code !== 0) reject(new Error(`backup child exited ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
    });
  });
}

async function seed(client: MongoClient, db: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const coll = client.db(db).collection(COLLECTIONS[(i / 1000) % COLLECTIONS.length]!);
    const batch = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({
      _id: new BSON.ObjectId(),
      seq: i + j,
      name: `Employee ${i + j}`,
      email: `employee${i + j}@example.test`,
      salary: 3000 + ((i + j) % 5000) / 7,
      at: new Date(Date.UTC(2020, 0, 1) + (i + j) * 60_000),
      address: { street: `${i + j} Main Street`, city: 'Springfield', zip: String(10000 + ((i + j) % 90000)) },
      notes: randomBytes(96).toString('base64'),
      tags: ['payroll', 'invoice', String((i + j) % 13)],
    }));
    await coll.insertMany(batch);
  }
}

function mongoToolsDir(): string | undefined {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-mongo-tools.sh')], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n').pop() : undefined;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await dirBytes(p) : (await fs.stat(p)).size;
  }
  return total;
}

function timed(cmd: string, args: string[]): number {
  const start = process.hrtime.bigint();
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`${path.basename(cmd)} failed: ${res.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const mbps = (bytes: number, ms: number): number => bytes / 1024 / 1024 / (ms / 1000);
const dps = (docs: number, ms: number): number => (docs / ms) * 1000;

async function main(): Promise<void> {
  const { mongoUrl } = await readInput<{ mongoUrl: string }>();
  const client = new MongoClient(mongoUrl);
  await client.connect();
  const tools = mongoToolsDir();
  const work = mkdtempSync(path.join(os.tmpdir(), 'backup-bench-'));
  const rows: Row[] = [];
  const rss: Record<number, number> = {};
  const created: string[] = [];
  try {
    for (const size of SIZES) {
      const tag = randomBytes(3).toString('hex');
      const db = `bench_backup_${size}_${tag}`;
      created.push(db);
      process.stderr.write(`backup: seeding ${size} documents into ${db}...\n`);
      await seed(client, db, size);
      const root = path.join(work, `${size}-engine`);
      const b = await runChild(['backup', mongoUrl, db, root, '-']);
      rss[size] = b.peakRssMb;
      let dumpMs: number | undefined;
      let dumpBytes = 0;
      const dumpDir = path.join(work, `${size}-mongodump`);
      if (tools) {
        dumpMs = timed(path.join(tools, 'mongodump'), [
          `--uri=${mongoUrl}`,
          `--db=${db}`,
          '--gzip',
          `--out=${dumpDir}`,
          '--quiet',
        ]);
        dumpBytes = await dirBytes(path.join(dumpDir, db));
      }
      rows.push({
        scenario: 'backup',
        subject: `backup ${size.toLocaleString('en-US')} docs (${COLLECTIONS.length} collections), engine`,
        rate: dps(b.documents, b.ms),
        unit: 'docs/s',
        baseline: dumpMs === undefined ? undefined : dps(size, dumpMs),
        baselineSubject: 'mongodump --gzip',
        ratio: dumpMs === undefined ? undefined : b.ms === 0 ? undefined : dumpMs / b.ms,
        target: 'ratio >= 1 (at least as fast)',
        pass: dumpMs === undefined ? undefined : dumpMs / b.ms >= 1,
        note:
          `engine ${(b.ms / 1000).toFixed(2)} s, ${mbps(b.bytes, b.ms).toFixed(2)} MB/s stored, peak RSS ${b.peakRssMb.toFixed(1)} MB` +
          (dumpMs === undefined
            ? '; mongodump not available (scripts/ensure-mongo-tools.sh)'
            : `; mongodump ${(dumpMs / 1000).toFixed(2)} s, ${mbps(dumpBytes, dumpMs).toFixed(2)} MB/s stored`),
      });
      // Restores are measured at the largest size only (the run must stay under 10 minutes).
      if (size !== Math.max(...SIZES)) continue;
      const engineTarget = `bench_restore_e_${tag}`;
      const toolTarget = `bench_restore_m_${tag}`;
      created.push(engineTarget, toolTarget);
      const r = await runChild(['restore', mongoUrl, db, root, engineTarget]);
      let restoreMs: number | undefined;
      if (tools)
        restoreMs = timed(path.join(tools, 'mongorestore'), [
          `--uri=${mongoUrl}`,
          '--gzip',
          '--noIndexRestore',
          `--nsFrom=${db}.*`,
          `--nsTo=${toolTarget}.*`,
          `--dir=${dumpDir}`,
          '--quiet',
        ]);
      rows.push({
        scenario: 'backup',
        subject: `restore ${size.toLocaleString('en-US')} docs, engine`,
        rate: dps(r.documents, r.ms),
        unit: 'docs/s',
        baseline: restoreMs === undefined ? undefined : dps(size, restoreMs),
        baselineSubject: 'mongorestore --gzip',
        ratio: restoreMs === undefined ? undefined : restoreMs / r.ms,
        target: 'ratio >= 1 (at least as fast)',
        pass: restoreMs === undefined ? undefined : restoreMs / r.ms >= 1,
        note:
          `engine ${(r.ms / 1000).toFixed(2)} s, ${mbps(r.bytes, r.ms).toFixed(2)} MB/s stored, peak RSS ${r.peakRssMb.toFixed(1)} MB` +
          (restoreMs === undefined
            ? ''
            : `; mongorestore ${(restoreMs / 1000).toFixed(2)} s, ${mbps(dumpBytes, restoreMs).toFixed(2)} MB/s stored`),
      });
    }
  } finally {
    for (const db of created)
      await client
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await client.close();
    await fs.rm(work, { recursive: true, force: true });
  }
  const [small, large] = [Math.min(...SIZES), Math.max(...SIZES)];
  if (small !== large) {
    const growth = rss[large]! - rss[small]!;
    rows.push({
      scenario: 'backup',
      subject: `backup peak RSS, ${small.toLocaleString('en-US')} vs ${large.toLocaleString('en-US')} docs`,
      note: `${rss[small]!.toFixed(1)} MB vs ${rss[large]!.toFixed(1)} MB (growth ${growth.toFixed(1)} MB)`,
      target: `growth <= ${FLAT_MARGIN_MB} MB`,
      pass: growth <= FLAT_MARGIN_MB,
    });
  }
  emit(rows);
}

if (process.argv[2] === '--child') {
  const [, , , mode, url, db, root, toDb] = process.argv;
  child(mode!, url!, db!, root!, toDb!).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

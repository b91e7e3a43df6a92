import type { BackupProgress, ProgressListener } from './backup.types';
import type { BackupRestoreService, RestoreRequest } from './backup-restore.service';

export const BACKUP_USAGE =
  'backup create | list | verify <id> | restore <id> [--to DB] [--collections a,b] [--overwrite --confirm <id>] | prune | decrypt <id> --out DIR';

export interface BackupCliIo {
  out: (line: string) => void;
  /** A terminal to draw the progress bar on (stderr when it is a TTY); plain progress lines otherwise. */
  tty?: { write: (s: string) => unknown; columns?: number };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function describe(p: BackupProgress): string {
  const eta = p.etaSeconds === null ? '' : ` eta ${p.etaSeconds}s`;
  return `${p.phase} collections ${p.collectionsDone}/${p.collectionsTotal} documents ${p.documentsDone}/${p.documentsTotal} ${mib(p.bytes)}${eta}`;
}

/** A bar redrawn in place on a terminal; one line per phase change or 10% step when not a terminal. */
export function progressReporter(io: BackupCliIo): { listener: ProgressListener; finish: () => void } {
  let lastPhase = '';
  let lastDecile = -1;
  let drawn = false;
  const listener: ProgressListener = (p) => {
    const ratio = p.documentsTotal > 0 ? Math.min(1, p.documentsDone / p.documentsTotal) : 0;
    if (io.tty) {
      const width = 30;
      const filled = Math.round(ratio * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}%`;
      io.tty.write(`\r\x1b[2K${bar} ${describe(p)}`);
      drawn = true;
      return;
    }
    const decile = Math.floor(ratio * 10);
    if (p.phase === lastPhase && decile === lastDecile) return;
    lastPhase = p.phase;
    lastDecile = decile;
    io.out(`progress: ${describe(p)}`);
  };
  return {
    listener,
    finish: () => {
      if (drawn) io.tty?.write('\n');
    },
  };
}

function parse(args: string[]): { positional: string[]; flags: Record<string, string | true> } {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith('--') && a !== '--overwrite') {
      flags[a.slice(2)] = next;
      i++;
    } else flags[a.slice(2)] = true;
  }
  return { positional, flags };
}

const str = (v: string | true | undefined, name: string): string | undefined => {
  if (v === true) throw new Error(`${name} needs a value`);
  return v;
};

/** `npm run backup -- <subcommand>`: the same service methods the admin API runs as jobs. */
export async function runBackupCommand(backups: BackupRestoreService, args: string[], io: BackupCliIo): Promise<void> {
  const { positional, flags } = parse(args);
  const [sub, id] = positional;
  const needId = () => {
    if (!id) throw new Error(`usage: ${BACKUP_USAGE}`);
    return id;
  };
  const actor = { id: null, role: 'operator-cli' };
  const progress = progressReporter(io);
  try {
    switch (sub) {
      case 'create': {
        const m = await backups.create('manual', { actor, onProgress: progress.listener });
        progress.finish();
        io.out(
          `created ${m.id}: ${m.collections.length} collections, ${m.totals.documents} documents, ${mib(m.totals.bytes)}`,
        );
        return;
      }
      case 'list': {
        const items = await backups.list();
        if (!items.length) io.out('no backups');
        for (const b of items)
          io.out(
            [
              b.id,
              b.kind,
              b.finishedAt,
              `${b.documents} docs`,
              mib(b.bytes),
              b.verification ? (b.verification.ok ? 'verified' : 'VERIFICATION FAILED') : 'unverified',
              b.locations.join('+'),
              ...(b.lockedUntil ? [`locked until ${b.lockedUntil}`] : []),
            ].join('\t'),
          );
        return;
      }
      case 'verify': {
        const r = await backups.verify(needId(), { actor, onProgress: progress.listener });
        progress.finish();
        if (!r.ok) throw new Error(`backup ${id} FAILED verification: ${r.problems.join('; ')}`);
        io.out(`backup ${id} verified (${r.method})`);
        return;
      }
      case 'restore': {
        const collections = str(flags.collections, '--collections');
        const req: RestoreRequest = {
          toDb: str(flags.to, '--to'),
          collections: collections
            ?.split(',')
            .map((c) => c.trim())
            .filter(Boolean),
          overwrite: flags.overwrite === true,
          confirm: str(flags.confirm, '--confirm'),
        };
        // SIGTERM cancels a restore still staging (target untouched); a swap already begun is finished first.
        const cancel = new AbortController();
        const onTerm = (): void => {
          io.out('SIGTERM: cancelling the restore (a swap already begun is finished first)');
          cancel.abort();
        };
        process.on('SIGTERM', onTerm);
        let r;
        try {
          r = await backups.restoreAsJob(needId(), req, {
            actor,
            onProgress: progress.listener,
            signal: cancel.signal,
          });
        } finally {
          process.off('SIGTERM', onTerm);
        }
        progress.finish();
        io.out(`restore job ${r.jobId}`);
        if (r.safetyBackupId) io.out(`safety backup ${r.safetyBackupId} taken first`);
        io.out(`restored into ${r.db}: ${r.collections.map((c) => `${c.collection} (${c.documents})`).join(', ')}`);
        return;
      }
      case 'prune': {
        const report = await backups.prune(actor);
        for (const [where, plan] of [
          ['local', report.local],
          ['s3', report.s3],
        ] as const) {
          if (!plan) continue;
          for (const d of plan.delete) io.out(`${where}: deleted ${d.id} (${d.reason})`);
          for (const d of plan.skipped) io.out(`${where}: skipped ${d.id} (${d.reason})`);
          io.out(`${where}: kept ${plan.keep.length}`);
        }
        return;
      }
      case 'decrypt': {
        const out = str(flags.out, '--out');
        if (!out) throw new Error('--out DIR is required');
        await backups.decrypt(needId(), out);
        io.out(`wrote the plain mongodump directory of ${id} to ${out} (mongorestore --gzip --dir ${out})`);
        return;
      }
      default:
        throw new Error(`usage: ${BACKUP_USAGE}`);
    }
  } finally {
    progress.finish();
  }
}

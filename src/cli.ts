/**
 * Operator commands: `npm run cli -- <command> [--flag value]` in development,
 * `node dist/cli.js <command>` in production. Each command is a thin door onto a
 * service method, built through the same composition root as the server.
 */
import { ConfigError, loadConfig, type Config } from './config';
import { withLocalServices, type ResolvedServices } from './config/local-services';
import { redactUri } from './lib/database';
import { createLogger } from './lib/logger';
import { createContainer, type Container } from './container';
import { BACKUP_USAGE, runBackupCommand } from './services/backup-restore/backup-cli';
import { MIGRATIONS } from './migrations';
import { MigrationRunner } from './services/migrations/migration-runner';
import { OperatorMfaReset } from './services/users/operator-mfa-reset';

export type CliFlags = Record<string, string | true>;

interface Command {
  summary: string;
  /** Takes its own positional arguments (`args`) instead of --flags only. */
  positional?: boolean;
  run: (container: Container, flags: CliFlags, io: CliIo, args: string[]) => Promise<void>;
}

export interface CliIo {
  out: (line: string) => void;
  /** Reads all of stdin (for secrets that must not appear in argv or shell history). */
  readStdin: (prompt?: string) => Promise<string>;
}

const COMMANDS: Record<string, Command> = {
  backup: {
    summary: BACKUP_USAGE,
    positional: true,
    async run(container, _flags, io, args) {
      await runBackupCommand(container.backups, args, {
        out: io.out,
        tty: process.stderr.isTTY ? process.stderr : undefined,
      });
    },
  },
  'db:sync-indexes': {
    summary: 'Create the indexes every model declares (run on deploy when MONGODB_SYNC_INDEXES_ON_BOOT=false).',
    async run(container, _flags, io) {
      const models = await container.database.syncIndexes();
      io.out(`indexes synchronised for ${models.length} models: ${models.join(', ')}`);
    },
  },
  'migrate:up': {
    summary: 'Apply pending data migrations in order [--to N: up to and including migration N].',
    async run(container, flags, io) {
      const applied = await migrationRunner(container).up({
        to: migrationTarget(flags),
        onApplied: (id) => io.out(`applied ${id}`),
      });
      io.out(applied.length ? `${applied.length} migration(s) applied` : 'nothing to apply: database is up to date');
    },
  },
  'migrate:down': {
    summary:
      'Revert the newest applied migration [--to N: every applied migration above N]; refused without a down step.',
    async run(container, flags, io) {
      const reverted = await migrationRunner(container).down({
        to: migrationTarget(flags),
        onReverted: (id) => io.out(`reverted ${id}`),
      });
      io.out(reverted.length ? `${reverted.length} migration(s) reverted` : 'nothing to revert');
    },
  },
  'migrate:status': {
    summary: 'List every migration with its state (pending, running, applied) and when it was applied.',
    async run(container, _flags, io) {
      for (const s of await migrationRunner(container).status())
        io.out(
          `${s.id.padEnd(40)} ${s.state.padEnd(8)} ${s.appliedAt?.toISOString() ?? ''}${s.reversible ? '' : ' (no down)'}`.trimEnd(),
        );
    },
  },
  'user:create': {
    summary: 'Create a user: --email E --name N --role R [--department D]; the password is read from stdin.',
    async run(container, flags, io) {
      const email = flags.email;
      const role = flags.role;
      if (typeof email !== 'string' || typeof role !== 'string') throw new Error('--email and --role are required');
      const name = typeof flags.name === 'string' ? flags.name : email.split('@')[0];
      const department = typeof flags.department === 'string' ? flags.department : null;
      const password = (await io.readStdin()).replace(/\r?\n$/, '');
      try {
        const user = await container.deps.identity.users.create({ email, name, role, department, password }, null);
        io.out(`created ${user.role} ${user.email} (${user.id})`);
      } catch (err) {
        // Validation problems carry the reason (e.g. a common password); print it plainly.
        const issues = (err as { extensions?: { errors?: Array<{ message: string }> } }).extensions?.errors;
        throw new Error(issues?.length ? issues.map((i) => i.message).join('; ') : (err as Error).message, {
          cause: err,
        });
      }
    },
  },
  'user:mfa-reset': {
    summary:
      "Reset a user's 2FA: --email USER --admin ADMIN_EMAIL; the admin's own authenticator or backup code is read from stdin (audited).",
    async run(container, flags, io) {
      const email = flags.email;
      const admin = flags.admin;
      if (typeof email !== 'string' || typeof admin !== 'string') throw new Error('--email and --admin are required');
      const adminCode = await io.readStdin(`${admin}'s authenticator or backup code: `);
      const { identity, access, protection } = container.deps;
      const { userId } = await new OperatorMfaReset({
        users: container.models.User,
        userService: identity.users,
        twoFactor: identity.twoFactor,
        policy: access.policy,
        audit: protection.audit,
      }).reset({ userEmail: email, adminEmail: admin, adminCode });
      io.out(`second factors of ${email} (${userId}) reset: sessions ended, enrollment required at next sign-in`);
    },
  },
  'keys:rotate': {
    summary: 'Re-encrypt every encrypted field under the active key (resumable; prints progress).',
    async run(container, _flags, io) {
      const report = await container.deps.protection.keyRotation.rotate({
        onProgress: (p) =>
          io.out(`${p.collection}: scanned ${p.scanned}, re-encrypted ${p.reEncrypted}${p.done ? ' (done)' : ''}`),
      });
      io.out(JSON.stringify(report, null, 2));
      if (report.status === 'finished-with-errors')
        throw new Error(`${report.skippedCount} values could not be decrypted and keep their old key (see "skipped")`);
    },
  },
  'audit:verify': {
    summary: 'Check the audit chain (entries, keys, counter and the head kept in Redis); exit 0 only when intact.',
    async run(container, _flags, io) {
      const v = await container.deps.protection.audit.verify();
      if (!v.intact && v.breakAt)
        throw new Error(
          `audit trail broken at seq ${v.breakAt.seq}: ${v.breakAt.reason} (${v.checked} entries verified)`,
        );
      io.out(`audit trail intact: ${v.checked} entries verified, head at seq ${v.externalHeadSeq ?? v.headSeq}`);
    },
  },
  'keys:usage': {
    summary: 'Count stored values under each key of the ring.',
    async run(container, _flags, io) {
      io.out(
        JSON.stringify(
          await container.deps.protection.keyRotation.keyUsage(container.deps.protection.encryption.keyIds),
          null,
          2,
        ),
      );
    },
  },
  'keys:check-retire': {
    summary: 'Exit 0 only if --key <id> encrypts nothing any more and may be removed from ENCRYPTION_KEYS.',
    async run(container, flags, io) {
      const key = flags.key;
      if (typeof key !== 'string') throw new Error('--key <id> is required');
      // A typo must not read as "safe to remove": only a key in the ring can be checked.
      const ring = container.deps.protection.encryption.keyIds;
      if (!ring.includes(key))
        throw new Error(`key ${key} is not in ENCRYPTION_KEYS (${ring.join(', ')}); check the id`);
      await container.deps.protection.keyRotation.assertRetirable(key);
      io.out(`key ${key} encrypts no stored data: it can be removed from ENCRYPTION_KEYS`);
    },
  },
  'db:stats': {
    summary: 'Print database statistics (dbStats and per-collection counts and sizes) as JSON.',
    async run(container, _flags, io) {
      io.out(JSON.stringify(await container.database.stats(), null, 2));
    },
  },
};

function migrationRunner(container: Container): MigrationRunner {
  const db = container.database.connection.db;
  if (!db) throw new Error('mongodb is not connected');
  return new MigrationRunner({
    db,
    migrations: MIGRATIONS,
    context: { syncIndexes: () => container.database.syncIndexes() },
  });
}

function migrationTarget(flags: CliFlags): number | undefined {
  if (flags.to === undefined) return undefined;
  const to = typeof flags.to === 'string' && /^\d+$/.test(flags.to) ? Number(flags.to) : NaN;
  if (Number.isNaN(to)) throw new Error('--to takes a migration number, e.g. --to 1');
  return to;
}

export function parseFlags(args: string[]): CliFlags {
  const flags: CliFlags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const name = arg.slice(2);
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      flags[name] = next;
      i++;
    } else {
      flags[name] = true;
    }
  }
  return flags;
}

function usage(): string {
  return [
    'usage: cli <command> [--flag value]',
    '       cli help | --help | -h',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(20)} ${c.summary}`),
  ].join('\n');
}

const HELP = new Set(['help', '--help', '-h']);

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // Asking for help is a success (stdout, exit 0); an unknown command is a usage error (stderr, exit 2).
  if (name === undefined || HELP.has(name)) {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    console.error(`unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  // A second terminal beside `npm run dev` uses the servers that the dev script recorded.
  const services = withLocalServices(process.env);
  if (services.missing.length > 0) {
    console.error(
      `cli: ${services.missing.join(' and ')} ${services.missing.length > 1 ? 'are' : 'is'} not set and npm run dev has not recorded its servers in ${services.file}: start \`npm run dev\` in another terminal, or set ${services.missing.join(' and ')}`,
    );
    return 1;
  }
  let config;
  try {
    config = loadConfig(services.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`config error: ${p}`);
      return 1;
    }
    throw err;
  }
  // The CLI speaks through its own one-line messages; the service's log lines (with driver
  // stack traces on connection trouble) only when LOG_LEVEL asks for something other than the default.
  const logger = createLogger({
    level: config.log.level === 'info' ? 'fatal' : config.log.level,
    destination: process.stderr,
  });
  const container = createContainer(config, logger);
  const unreachable = await startOrExplain(container, config, services);
  if (unreachable) {
    console.error(`cli: ${unreachable}`);
    await container.stop().catch(() => undefined);
    return 1;
  }
  try {
    await command.run(
      container,
      command.positional ? {} : parseFlags(rest),
      {
        out: (line) => process.stdout.write(line + '\n'),
        readStdin: async (prompt = 'Password: ') =>
          process.stdin.isTTY ? promptHidden(prompt) : readAll(process.stdin),
      },
      rest,
    );
    return 0;
  } catch (err) {
    console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await container.stop();
  }
}

const firstLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/** Starts the container; on a connection failure returns one line saying what to check (never a stack). */
async function startOrExplain(
  container: Container,
  config: Config,
  services: ResolvedServices,
): Promise<string | undefined> {
  const hint = (origin: string, variable: string): string =>
    origin === variable ? `check ${variable}` : `is \`npm run dev\` running? (or set ${variable})`;
  try {
    await container.start();
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    if (/^Mongo(ose)?(ServerSelection|Network|Parse)Error$/.test(name))
      return `cannot reach MongoDB at ${redactUri(config.mongodb.uri.reveal())} (from ${services.origin.mongodb}): ${firstLine(err)}; ${hint(services.origin.mongodb, 'MONGODB_URI')}`;
    return `startup failed: ${firstLine(err)}`;
  }
  if (container.redis.status !== 'ready' && config.redis.connection.kind !== 'single')
    return `cannot reach Redis through ${config.redis.connection.kind === 'sentinel' ? 'REDIS_SENTINELS' : 'REDIS_CLUSTER_NODES'}`;
  if (container.redis.status !== 'ready')
    return `cannot reach Redis at ${redactUri(config.redis.url.reveal())} (from ${services.origin.redis}); ${hint(services.origin.redis, 'REDIS_URL')}`;
  return undefined;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** On a terminal, ask for the secret with echo off (the typed characters never appear). */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let typed = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);

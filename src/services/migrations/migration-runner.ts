import { hostname } from 'node:os';
import type { Db } from 'mongodb';

/** What a migration gets besides the database: the app's own index sync (mongoose models). */
export interface MigrationContext {
  syncIndexes: () => Promise<string[]>;
}

/** One file under src/migrations/NNNN-name.ts. `down` is optional: without it the migration cannot be reverted. */
export interface Migration {
  /** `NNNN-name`, the file name without extension; the number orders the migrations. */
  id: string;
  up: (db: Db, ctx: MigrationContext) => Promise<void>;
  down?: (db: Db, ctx: MigrationContext) => Promise<void>;
}

export type MigrationState = 'pending' | 'running' | 'applied';

export interface MigrationStatus {
  id: string;
  state: MigrationState;
  reversible: boolean;
  appliedAt?: Date;
}

/** A document of the `migrations` collection: `_id` is the migration id (the claim), or `revert:<id>` while reverting. */
interface MigrationRecord {
  _id: string;
  state: 'running' | 'applied' | 'reverting';
  startedAt: Date;
  appliedAt?: Date;
  durationMs?: number;
  by: string;
}

export const MIGRATIONS_COLLECTION = 'migrations';
const REVERT_PREFIX = 'revert:';

const isDuplicateKey = (err: unknown): boolean => (err as { code?: number }).code === 11000;

export class MigrationError extends Error {}

/**
 * Applies and reverts data migrations, recording each applied one in `migrations`. FerretDB has no
 * transactions, so the only cross-process arbiter is a unique insert: the process that inserts a
 * migration's `_id` runs it; every other process sees E11000 and stops. A migration that crashed
 * half-way stays `running` and blocks later runs until an operator has looked at it.
 */
export class MigrationRunner {
  private readonly now: () => Date;
  private readonly by: string;
  private readonly migrations: Migration[];

  constructor(
    private readonly deps: {
      db: Db;
      migrations: Migration[];
      context: MigrationContext;
      now?: () => Date;
      /** Who applied a migration (host:pid by default), kept in its record. */
      by?: string;
    },
  ) {
    this.now = deps.now ?? (() => new Date());
    this.by = deps.by ?? `${hostname()}:${process.pid}`;
    const seen = new Set<string>();
    for (const m of deps.migrations) {
      if (!/^\d{4}-[a-z0-9-]+$/.test(m.id)) throw new MigrationError(`migration id "${m.id}" is not NNNN-name`);
      if (seen.has(String(migrationNumber(m.id))))
        throw new MigrationError(`two migrations share the number ${m.id.slice(0, 4)}`);
      seen.add(String(migrationNumber(m.id)));
    }
    this.migrations = [...deps.migrations].sort((a, b) => migrationNumber(a.id) - migrationNumber(b.id));
  }

  private get records() {
    return this.deps.db.collection<MigrationRecord>(MIGRATIONS_COLLECTION);
  }

  async status(): Promise<MigrationStatus[]> {
    const records = new Map((await this.records.find({}).toArray()).map((r) => [r._id, r]));
    return this.migrations.map((m) => {
      const r = records.get(m.id);
      const reverting = records.has(REVERT_PREFIX + m.id);
      const state: MigrationState = !r ? 'pending' : r.state === 'applied' && !reverting ? 'applied' : 'running';
      return { id: m.id, state, reversible: typeof m.down === 'function', appliedAt: r?.appliedAt };
    });
  }

  /** Applies pending migrations in order, up to and including number `to`; returns the ids it applied. */
  async up(opts: { to?: number; onApplied?: (id: string) => void } = {}): Promise<string[]> {
    const applied: string[] = [];
    for (const m of this.migrations) {
      if (opts.to !== undefined && migrationNumber(m.id) > opts.to) break;
      const started = this.now();
      try {
        await this.records.insertOne({ _id: m.id, state: 'running', startedAt: started, by: this.by });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const existing = await this.records.findOne({ _id: m.id });
        if (existing?.state === 'applied') continue; // idempotent: already done (here or by another process)
        throw new MigrationError(
          `migration ${m.id} is being applied by ${existing?.by ?? 'another process'} since ${existing?.startedAt?.toISOString() ?? '?'}; ` +
            'if that process died, check the data, then delete its record from the migrations collection and run again',
        );
      }
      try {
        await m.up(this.deps.db, this.deps.context);
      } catch (err) {
        // Nothing was recorded as applied: give the claim back so a fixed migration can run again.
        await this.records.deleteOne({ _id: m.id, state: 'running' });
        throw new MigrationError(`migration ${m.id} failed: ${(err as Error).message}`, { cause: err });
      }
      const done = this.now();
      await this.records.updateOne(
        { _id: m.id },
        { $set: { state: 'applied', appliedAt: done, durationMs: done.getTime() - started.getTime() } },
      );
      applied.push(m.id);
      opts.onApplied?.(m.id);
    }
    return applied;
  }

  /**
   * Reverts applied migrations newest first: without `to` only the newest one, with `to` every one
   * numbered above `to`. Refuses before touching anything when one of them has no `down`.
   */
  async down(opts: { to?: number; onReverted?: (id: string) => void } = {}): Promise<string[]> {
    const applied = (await this.status()).filter((s) => s.state === 'applied').map((s) => s.id);
    const recorded = new Set((await this.records.find({}, { projection: { _id: 1 } }).toArray()).map((r) => r._id));
    const unknown = [...recorded].filter(
      (id) => !id.startsWith(REVERT_PREFIX) && !this.migrations.some((m) => m.id === id),
    );
    if (unknown.length > 0)
      throw new MigrationError(
        `the database has migrations this code does not know (${unknown.join(', ')}): revert with the release that added them`,
      );
    const targets = (
      opts.to === undefined ? applied.slice(-1) : applied.filter((id) => migrationNumber(id) > (opts.to ?? 0))
    ).reverse();
    const byId = new Map(this.migrations.map((m) => [m.id, m]));
    const irreversible = targets.filter((id) => typeof byId.get(id)?.down !== 'function');
    if (irreversible.length > 0)
      throw new MigrationError(
        `migration ${irreversible.join(', ')} has no down step and cannot be reverted; restore from a backup instead`,
      );
    const reverted: string[] = [];
    for (const id of targets) {
      const m = byId.get(id) as Migration & { down: NonNullable<Migration['down']> };
      const claim = REVERT_PREFIX + id;
      try {
        await this.records.insertOne({ _id: claim, state: 'reverting', startedAt: this.now(), by: this.by });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        throw new MigrationError(`migration ${id} is being reverted by another process`);
      }
      try {
        if (!(await this.records.findOne({ _id: id, state: 'applied' }))) continue; // reverted meanwhile
        await m.down(this.deps.db, this.deps.context);
        await this.records.deleteOne({ _id: id });
        reverted.push(id);
        opts.onReverted?.(id);
      } catch (err) {
        throw new MigrationError(`migration ${id} down failed: ${(err as Error).message}`, { cause: err });
      } finally {
        await this.records.deleteOne({ _id: claim });
      }
    }
    return reverted;
  }
}

export function migrationNumber(id: string): number {
  return Number.parseInt(id.slice(0, 4), 10);
}

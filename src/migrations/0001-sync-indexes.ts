import type { Db } from 'mongodb';
import type { MigrationContext } from '../services/migrations/migration-runner';

/**
 * Creates every index the models declare (the same as `npm run db:sync-indexes`), so a
 * fresh database gets its unique and lookup indexes before the first request.
 * No down step: dropping indexes would break uniqueness guarantees the code relies on.
 */
export async function up(_db: Db, ctx: MigrationContext): Promise<void> {
  await ctx.syncIndexes();
}

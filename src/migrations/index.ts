import type { Migration } from '../services/migrations/migration-runner';
import * as m0001 from './0001-sync-indexes';

/** Every migration, in order. Add a new file as NNNN-name.ts and list it here. */
export const MIGRATIONS: Migration[] = [{ id: '0001-sync-indexes', ...m0001 }];

import type { Connection } from 'mongoose';
import { registerAuditModels } from './audit-event.model';

/** Registers every model on the given connection (never on mongoose's global one). */
export function registerModels(conn: Connection) {
  return {
    ...registerAuditModels(conn),
  };
}

export type Models = ReturnType<typeof registerModels>;

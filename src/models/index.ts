import type { Connection } from 'mongoose';
import { registerAuditModels } from './audit-event.model';
import { registerApiKeyModels } from './api-key.model';

/** Registers every model on the given connection (never on mongoose's global one). */
export function registerModels(conn: Connection) {
  return {
    ...registerAuditModels(conn),
    ...registerApiKeyModels(conn),
  };
}

export type Models = ReturnType<typeof registerModels>;

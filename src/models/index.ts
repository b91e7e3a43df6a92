import type { Connection } from 'mongoose';
import type { EncryptedFieldRegistry, FieldCipher } from '../services/encryption/field-encryption.plugin';
import { registerAuditModels } from './audit-event.model';
import { registerApiKeyModels } from './api-key.model';

/** What models with encrypted fields need: the cipher, and the registry key rotation reads. */
export interface ModelDeps {
  cipher: FieldCipher;
  registry: EncryptedFieldRegistry;
}

/** Registers every model on the given connection (never on mongoose's global one). */
export function registerModels(conn: Connection, _deps: ModelDeps) {
  return {
    ...registerAuditModels(conn),
    ...registerApiKeyModels(conn),
  };
}

export type Models = ReturnType<typeof registerModels>;

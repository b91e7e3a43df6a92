import type { Connection } from 'mongoose';
import type { EncryptedFieldRegistry, FieldCipher } from '../services/encryption/field-encryption.plugin';
import { registerAuditModels } from './audit-event.model';
import { registerApiKeyModels } from './api-key.model';
import { registerUserModels } from './user.model';
import { registerSessionModels } from './session.model';
import { registerOtpModels } from './otp-challenge.model';
import { registerSingleUseClaimModels } from './single-use-claim.model';
import { registerVersionClaimModels } from './version-claim.model';
import { registerRoleModels } from './role.model';
import { registerEmployeeModels } from './employee.model';
import { registerInvoiceModels } from './invoice.model';
import { registerAlertModels } from './alert.model';
import { registerJobLeaseModels } from './job-lease.model';
import { registerBackupJobModels } from './backup-job.model';
import { registerHealthSampleModels } from './health-sample.model';
import { registerAlertOccurrenceModels } from './alert-occurrence.model';
import { registerPasskeyModels } from './passkey.model';

/** What models with encrypted fields need: the cipher, and the registry key rotation reads. */
export interface ModelDeps {
  cipher: FieldCipher;
  registry: EncryptedFieldRegistry;
}

/** Registers every model on the given connection (never on mongoose's global one). */
export function registerModels(conn: Connection, deps: ModelDeps) {
  return {
    ...registerAuditModels(conn),
    ...registerApiKeyModels(conn),
    ...registerUserModels(conn, deps),
    ...registerSessionModels(conn),
    ...registerOtpModels(conn, deps),
    ...registerSingleUseClaimModels(conn),
    ...registerVersionClaimModels(conn),
    ...registerRoleModels(conn),
    ...registerEmployeeModels(conn, deps),
    ...registerInvoiceModels(conn),
    ...registerAlertModels(conn),
    ...registerJobLeaseModels(conn),
    ...registerBackupJobModels(conn),
    ...registerHealthSampleModels(conn),
    ...registerAlertOccurrenceModels(conn),
    ...registerPasskeyModels(conn),
  };
}

export type Models = ReturnType<typeof registerModels>;

import { Schema, type Connection, type Model } from 'mongoose';
import { fieldEncryption } from '../services/encryption/field-encryption.plugin';
import type { ModelDeps } from './index';

export interface EmployeeDoc {
  _id: string;
  name: string;
  workEmail: string;
  department: string;
  /** Employee id of the line manager. */
  managerId: string | null;
  /** The user account this record belongs to (`own` scope). */
  userId: string | null;
  /** Encrypted at rest. */
  phone: string | null;
  /** Encrypted at rest, with a unique blind index for lookups. */
  nationalId: string | null;
  /** Encrypted at rest. */
  bankAccount: string | null;
  /** Yearly gross, minor units. */
  salary: number | null;
  /** Count of changes; every change goes through VersionedWriter and sets it +1 (the ETag). */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

const schema = new Schema<EmployeeDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true, maxlength: 200 },
    workEmail: { type: String, required: true, maxlength: 254 },
    department: { type: String, required: true, maxlength: 64 },
    managerId: { type: String, default: null },
    userId: { type: String, default: null },
    phone: { type: String, default: null },
    nationalId: { type: String, default: null },
    bankAccount: { type: String, default: null },
    salary: { type: Number, default: null, min: 0 },
    version: { type: Number, default: 0, min: 0 },
  },
  { collection: 'employees', timestamps: true, versionKey: false },
);
schema.index({ department: 1, name: 1 });
schema.index({ userId: 1 });

export type EmployeeModel = Model<EmployeeDoc>;

export function registerEmployeeModels(conn: Connection, deps: ModelDeps): { Employee: EmployeeModel } {
  if (conn.models.Employee) return { Employee: conn.models.Employee as EmployeeModel };
  const s = schema.clone();
  s.plugin(fieldEncryption, {
    cipher: deps.cipher,
    registry: deps.registry,
    collection: 'employees',
    fields: [{ path: 'phone' }, { path: 'nationalId', blindIndex: true, unique: true }, { path: 'bankAccount' }],
  });
  return { Employee: conn.model<EmployeeDoc>('Employee', s) };
}

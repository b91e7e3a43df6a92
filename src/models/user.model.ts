import { Schema, type Connection, type HydratedDocument, type Model } from 'mongoose';
import { fieldEncryption } from '../services/encryption/field-encryption.plugin';
import type { ModelDeps } from './index';

export type UserStatus = 'active' | 'disabled';
export type SecondFactor = 'totp' | 'sms' | 'email' | 'passkey';

export interface BackupCode {
  hash: string;
  usedAt: Date | null;
}

export interface UserDoc {
  _id: string;
  /** As entered, for display and mail. */
  email: string;
  /** Lower-cased copy with the unique index (no collation on FerretDB; exact and portable). */
  emailLower: string;
  name: string;
  role: string;
  department: string | null;
  status: UserStatus;
  passwordHash: string;
  passwordChangedAt: Date;
  /** Encrypted at rest (AAD-bound to the user and field). */
  phone: string | null;
  phoneVerified: boolean;
  mfa: {
    /** Factors the user has enrolled. Empty: no second factor. */
    methods: SecondFactor[];
    /** Encrypted base32 TOTP secret; pending until a valid code enables it. */
    totpSecret: string | null;
    totpPending: boolean;
    /** Last accepted TOTP time step: each code is accepted at most once. */
    totpLastStep: number;
    backupCodes: BackupCode[];
    /** Set by an administrator's reset: the user must enroll again at next login. */
    enrollmentRequired: boolean;
  };
  /** Consecutive second-factor failures over all logins (NIST cap of 100). */
  secondFactorFailures: number;
  createdAt: Date;
  updatedAt: Date;
}

const userSchema = new Schema<UserDoc>(
  {
    _id: { type: String, required: true },
    email: { type: String, required: true, maxlength: 254 },
    emailLower: { type: String, required: true, unique: true },
    name: { type: String, required: true, maxlength: 200 },
    role: { type: String, required: true },
    department: { type: String, default: null },
    status: { type: String, enum: ['active', 'disabled'], default: 'active' },
    passwordHash: { type: String, required: true },
    passwordChangedAt: { type: Date, required: true },
    phone: { type: String, default: null },
    phoneVerified: { type: Boolean, default: false },
    mfa: {
      methods: { type: [String], default: [] },
      totpSecret: { type: String, default: null },
      totpPending: { type: Boolean, default: false },
      totpLastStep: { type: Number, default: 0 },
      backupCodes: { type: [{ hash: String, usedAt: { type: Date, default: null } }], default: [], _id: false },
      enrollmentRequired: { type: Boolean, default: false },
    },
    secondFactorFailures: { type: Number, default: 0 },
  },
  { collection: 'users', timestamps: true, versionKey: false },
);
/** The second-factor state of an account without any factor (a new user, or one erased). */
export const noSecondFactor = (): UserDoc['mfa'] => ({
  methods: [],
  totpSecret: null,
  totpPending: false,
  totpLastStep: 0,
  backupCodes: [],
  enrollmentRequired: false,
});
userSchema.index({ role: 1 });
userSchema.index({ department: 1 });

export type UserModel = Model<UserDoc>;
export type UserDocument = HydratedDocument<UserDoc>;

export function registerUserModels(conn: Connection, deps: ModelDeps): { User: UserModel } {
  if (conn.models.User) return { User: conn.models.User as UserModel };
  const schema = userSchema.clone();
  schema.plugin(fieldEncryption, {
    cipher: deps.cipher,
    registry: deps.registry,
    collection: 'users',
    fields: [{ path: 'phone' }],
  });
  // The TOTP secret lives inside `mfa`, which the plugin (top-level paths) does not cover: the
  // TwoFactorAuthService encrypts it itself, under the same AAD scheme, so rotation covers it.
  deps.registry.register('users', ['mfa.totpSecret']);
  return { User: conn.model<UserDoc>('User', schema) };
}

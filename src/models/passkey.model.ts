import { Schema, type Connection, type Model } from 'mongoose';

/**
 * One WebAuthn credential (a passkey) of a user. Only public material: the credential id
 * the authenticator chose and its COSE public key. Nothing here lets anyone sign in.
 */
export interface PasskeyCredentialDoc {
  _id: string;
  userId: string;
  /** base64url credential id, as browsers send it back; unique across all users. */
  credentialId: string;
  /** base64url COSE public key. */
  publicKey: string;
  /** The authenticator's signature counter at its last use (0 for authenticators that keep none). */
  counter: number;
  transports: string[];
  /** 'multiDevice' (a synced passkey) or 'singleDevice' (bound to one authenticator). */
  deviceType: string;
  /** The backup-state flag: the private key is synced to a cloud account. */
  backedUp: boolean;
  /** The user's label, e.g. "Work laptop". */
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

const credentialSchema = new Schema<PasskeyCredentialDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    credentialId: { type: String, required: true, unique: true },
    publicKey: { type: String, required: true },
    counter: { type: Number, required: true, min: 0 },
    transports: { type: [String], default: [] },
    deviceType: { type: String, required: true },
    backedUp: { type: Boolean, required: true },
    name: { type: String, required: true, maxlength: 64 },
    createdAt: { type: Date, required: true },
    lastUsedAt: { type: Date, default: null },
  },
  { collection: 'passkey_credentials', versionKey: false },
);

export type PasskeyPurpose = 'register' | 'second-factor' | 'passwordless';

/**
 * One pending passkey ceremony. `_id` is the challenge itself (base64url, 32 random bytes):
 * the browser signs it and sends it back inside clientDataJSON. Bound to the user and the
 * attempt it was issued for (the session for a registration, the mfaToken for a second
 * step); single use is decided by a SingleUseClaim on the same id, expiry by `expiresAt`
 * (no TTL index on FerretDB: the auth retention job deletes expired ones).
 */
export interface PasskeyChallengeDoc {
  _id: string;
  purpose: PasskeyPurpose;
  /** Null for passwordless: the user is only known from the credential presented. */
  userId: string | null;
  /** The session (registration) or sign-in (mfaToken id) this ceremony belongs to. */
  attemptId: string | null;
  expiresAt: Date;
}

const challengeSchema = new Schema<PasskeyChallengeDoc>(
  {
    _id: { type: String, required: true },
    purpose: { type: String, required: true },
    userId: { type: String, default: null },
    attemptId: { type: String, default: null },
    expiresAt: { type: Date, required: true, index: true },
  },
  { collection: 'passkey_challenges', versionKey: false },
);

export type PasskeyCredentialModel = Model<PasskeyCredentialDoc>;
export type PasskeyChallengeModel = Model<PasskeyChallengeDoc>;

export function registerPasskeyModels(conn: Connection): {
  PasskeyCredential: PasskeyCredentialModel;
  PasskeyChallenge: PasskeyChallengeModel;
} {
  return {
    PasskeyCredential:
      (conn.models.PasskeyCredential as PasskeyCredentialModel) ??
      conn.model<PasskeyCredentialDoc>('PasskeyCredential', credentialSchema),
    PasskeyChallenge:
      (conn.models.PasskeyChallenge as PasskeyChallengeModel) ??
      conn.model<PasskeyChallengeDoc>('PasskeyChallenge', challengeSchema),
  };
}

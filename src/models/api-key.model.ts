import { Schema, type Connection, type Model } from 'mongoose';

export interface ApiKeyDoc {
  _id: string;
  /** Public part of the key, used to find it. Unique. */
  prefix: string;
  /** HMAC-SHA256 of the full key under the API-key HMAC key (hex). The key itself is never stored. */
  hash: string;
  /** During a rotation overlap the previous secret still works until previousValidUntil. */
  previousHash: string | null;
  previousValidUntil: Date | null;
  ownerId: string;
  name: string;
  scopes: string[];
  expiresAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** Count of changes (VersionedWriter): revocation, rotation and last-use refreshes never overwrite each other. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

const apiKeySchema = new Schema<ApiKeyDoc>(
  {
    _id: { type: String, required: true },
    prefix: { type: String, required: true, unique: true },
    hash: { type: String, required: true },
    previousHash: { type: String, default: null },
    previousValidUntil: { type: Date, default: null },
    ownerId: { type: String, required: true, index: true },
    name: { type: String, required: true, maxlength: 100 },
    scopes: { type: [String], required: true },
    expiresAt: { type: Date, required: true },
    lastUsedAt: { type: Date, default: null },
    revokedAt: { type: Date, default: null },
    version: { type: Number, default: 0, min: 0 },
  },
  { collection: 'api_keys', timestamps: true, versionKey: false },
);

export type ApiKeyModel = Model<ApiKeyDoc>;

export function registerApiKeyModels(conn: Connection): { ApiKey: ApiKeyModel } {
  return { ApiKey: conn.models.ApiKey ?? conn.model<ApiKeyDoc>('ApiKey', apiKeySchema) };
}

import { Schema, type Connection, type Model } from 'mongoose';

/**
 * One login: the family of refresh tokens it issues. A refresh token is
 * `<sessionId>.<generation>.<secret>`; only the current generation's hash is kept, so a
 * replayed older token (generation below current) is detected and revokes the family.
 */
export interface SessionDoc {
  _id: string;
  userId: string;
  generation: number;
  refreshHash: string;
  /** The session passed a second factor. */
  mfa: boolean;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  ip: string | null;
  userAgent: string | null;
}

const sessionSchema = new Schema<SessionDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    generation: { type: Number, required: true },
    refreshHash: { type: String, required: true },
    mfa: { type: Boolean, required: true },
    createdAt: { type: Date, required: true },
    lastUsedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true, index: true },
    revokedAt: { type: Date, default: null },
    revokedReason: { type: String, default: null },
    ip: { type: String, default: null },
    userAgent: { type: String, default: null },
  },
  { collection: 'sessions', versionKey: false },
);

export type SessionModel = Model<SessionDoc>;

export function registerSessionModels(conn: Connection): { Session: SessionModel } {
  return { Session: (conn.models.Session as SessionModel) ?? conn.model<SessionDoc>('Session', sessionSchema) };
}

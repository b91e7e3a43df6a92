import { Schema, type Connection, type Model } from 'mongoose';
import type { ModelDeps } from './index';

/** `step-up`: a code for a signed-in user confirming a sensitive change; never valid for login. */
export type OtpPurpose = 'login' | 'enroll' | 'step-up';
export type OtpChannel = 'sms' | 'email';

/**
 * One pending one-time code per (user, purpose, channel): `_id` is that triple, so a new
 * code replaces the old one atomically. The code itself is never stored, only its HMAC.
 */
export interface OtpChallengeDoc {
  _id: string;
  userId: string;
  purpose: OtpPurpose;
  channel: OtpChannel;
  codeHash: string;
  /** For enrollment: the phone number being verified (encrypted by the service). */
  target: string | null;
  sentAt: Date;
  expiresAt: Date;
  attempts: number;
  consumedAt: Date | null;
}

const schema = new Schema<OtpChallengeDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    purpose: { type: String, required: true },
    channel: { type: String, required: true },
    codeHash: { type: String, required: true },
    target: { type: String, default: null },
    sentAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true, index: true },
    attempts: { type: Number, default: 0 },
    consumedAt: { type: Date, default: null },
  },
  { collection: 'otp_challenges', versionKey: false },
);

export type OtpChallengeModel = Model<OtpChallengeDoc>;

export function registerOtpModels(
  conn: Connection,
  deps: Pick<ModelDeps, 'registry'>,
): { OtpChallenge: OtpChallengeModel } {
  // `target` (a phone number being enrolled) is encrypted by the TwoFactorAuthService.
  deps.registry.register('otp_challenges', ['target']);
  return {
    OtpChallenge:
      (conn.models.OtpChallenge as OtpChallengeModel) ?? conn.model<OtpChallengeDoc>('OtpChallenge', schema),
  };
}

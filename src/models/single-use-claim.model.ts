import { Schema, type Connection, type Model } from 'mongoose';

/**
 * One spent single-use thing (a TOTP step, a refresh-token generation, a backup code, a
 * one-time code). The claim is the insert of its `_id`: the primary key makes exactly one
 * of several concurrent inserts win, on MongoDB and on FerretDB alike — unlike a conditional
 * update, which FerretDB 1.x (SQLite) applies as read-then-write and lets two callers win.
 */
export interface SingleUseClaimDoc {
  _id: string;
  claimedAt: Date;
  /** After this the claim guards nothing any more (the thing itself has expired); retention deletes it. */
  expiresAt: Date;
}

const schema = new Schema<SingleUseClaimDoc>(
  {
    _id: { type: String, required: true },
    claimedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true, index: true },
  },
  { collection: 'single_use_claims', versionKey: false },
);

export type SingleUseClaimModel = Model<SingleUseClaimDoc>;

export function registerSingleUseClaimModels(conn: Connection): { SingleUseClaim: SingleUseClaimModel } {
  return {
    SingleUseClaim:
      (conn.models.SingleUseClaim as SingleUseClaimModel) ?? conn.model<SingleUseClaimDoc>('SingleUseClaim', schema),
  };
}

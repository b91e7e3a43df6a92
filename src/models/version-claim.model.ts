import { Schema, type Connection, type Model } from 'mongoose';

/**
 * The right to change one version of one document (see VersionedWriter). The insert of
 * its `_id` (`<collection>:<docId>:<version>:<generation>`) is the arbitration: the primary
 * key makes exactly one of several concurrent writers of a version win, on MongoDB and on
 * FerretDB alike. It carries no document content (no personal data, no ciphertext).
 */
export interface VersionClaimDoc {
  _id: string;
  collectionName: string;
  docId: string;
  version: number;
  /** 0 for the first claim of a version; n+1 replaces claim n once n was abandoned (expired). */
  generation: number;
  claimedAt: Date;
  /** After this a claim whose version is still current was abandoned (its writer crashed): it no longer blocks. */
  expiresAt: Date;
}

const schema = new Schema<VersionClaimDoc>(
  {
    _id: { type: String, required: true },
    collectionName: { type: String, required: true },
    docId: { type: String, required: true },
    version: { type: Number, required: true },
    generation: { type: Number, required: true },
    claimedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'version_claims', versionKey: false },
);
schema.index({ collectionName: 1, docId: 1, version: 1 });

export type VersionClaimModel = Model<VersionClaimDoc>;

export function registerVersionClaimModels(conn: Connection): { VersionClaim: VersionClaimModel } {
  return {
    VersionClaim:
      (conn.models.VersionClaim as VersionClaimModel) ?? conn.model<VersionClaimDoc>('VersionClaim', schema),
  };
}

import { Schema, type Connection, type Model } from 'mongoose';

/**
 * One epoch of a cluster-wide lease (`_id: "<name>:<epoch>"`), or one claimed scheduled
 * firing (`_id: "fire:<job>:<tick>"`, epoch 0). An epoch is taken by inserting its `_id`:
 * the primary key makes exactly one of several concurrent takers win, on MongoDB and on
 * FerretDB alike (whose conditional updates are read-then-write and would let two win).
 * Only the holder ever updates its own epoch document (renewal, release).
 */
export interface JobLeaseDoc {
  _id: string;
  name: string;
  /** The fencing token: strictly increasing per name. */
  epoch: number;
  holder: string;
  acquiredAt: Date;
  expiresAt: Date;
  releasedAt: Date | null;
}

const schema = new Schema<JobLeaseDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    epoch: { type: Number, required: true },
    holder: { type: String, required: true },
    acquiredAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    releasedAt: { type: Date, default: null },
  },
  { collection: 'job_leases', versionKey: false },
);
schema.index({ name: 1, epoch: -1 });

export type JobLeaseModel = Model<JobLeaseDoc>;

export function registerJobLeaseModels(conn: Connection): { JobLease: JobLeaseModel } {
  return { JobLease: (conn.models.JobLease as JobLeaseModel) ?? conn.model<JobLeaseDoc>('JobLease', schema) };
}

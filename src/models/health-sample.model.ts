import { randomUUID } from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';

/** A health sample kept beyond the process (the in-memory ring holds the last 24 h of this instance only). */
export interface HealthSampleDoc {
  _id: string;
  at: Date;
  /** hostname:pid of the process that sampled. */
  instance: string;
  status: 'pass' | 'warn' | 'fail';
  checks: Array<{ key: string; value?: number; unit?: string; status: 'pass' | 'warn' | 'fail' }>;
}

const schema = new Schema<HealthSampleDoc>(
  {
    _id: { type: String, default: () => randomUUID() },
    at: { type: Date, required: true, index: true },
    instance: { type: String, required: true },
    status: { type: String, required: true, enum: ['pass', 'warn', 'fail'] },
    checks: [
      {
        _id: false,
        key: { type: String, required: true },
        value: { type: Number },
        unit: { type: String },
        status: { type: String, required: true, enum: ['pass', 'warn', 'fail'] },
      },
    ],
  },
  { collection: 'health_samples', versionKey: false },
);

export type HealthSampleModel = Model<HealthSampleDoc>;

export function registerHealthSampleModels(conn: Connection): { HealthSample: HealthSampleModel } {
  return {
    HealthSample:
      (conn.models.HealthSample as HealthSampleModel) ?? conn.model<HealthSampleDoc>('HealthSample', schema),
  };
}

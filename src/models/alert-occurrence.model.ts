import { Schema, type Connection, type Model } from 'mongoose';

/**
 * One raise of an alert that was already open: the exact occurrence count is the number of
 * these (plus the raise that created the alert). An insert per occurrence is the one write
 * FerretDB applies atomically under concurrency; `$inc` there is read-then-write and loses
 * counts. Deleted with their alert by the retention job.
 */
export interface AlertOccurrenceDoc {
  _id: string;
  alertId: string;
  at: Date;
}

const occurrenceSchema = new Schema<AlertOccurrenceDoc>(
  {
    _id: { type: String, required: true },
    alertId: { type: String, required: true, index: true },
    at: { type: Date, required: true },
  },
  { collection: 'alert_occurrences', versionKey: false },
);

export type AlertOccurrenceModel = Model<AlertOccurrenceDoc>;

export function registerAlertOccurrenceModels(conn: Connection): { AlertOccurrence: AlertOccurrenceModel } {
  return {
    AlertOccurrence:
      (conn.models.AlertOccurrence as AlertOccurrenceModel) ??
      conn.model<AlertOccurrenceDoc>('AlertOccurrence', occurrenceSchema),
  };
}

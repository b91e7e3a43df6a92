import { Schema, type Connection, type Model } from 'mongoose';
import { ALERT_SEVERITIES, ALERT_SOURCES, type AlertSeverity, type AlertSource } from '../services/alerts/alert-raiser';

export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const ALERT_CHANNELS = ['email', 'sms', 'slack', 'dashboard'] as const;
export type AlertChannel = (typeof ALERT_CHANNELS)[number];

/**
 * One alert: every occurrence of the same fingerprint while it is not resolved counts here
 * instead of notifying again. Deliveries live in their own collection (AlertDelivery): the
 * outbox that workers claim from.
 */
export interface AlertDoc {
  _id: string;
  /** SHA-256 (hex) of source, kind and subject. */
  fingerprint: string;
  /**
   * Unique. The fingerprint while the alert is open or acknowledged, `resolved:<_id>` once
   * resolved: at most one unresolved alert per fingerprint, without a partial index (FerretDB has none).
   */
  openKey: string;
  severity: AlertSeverity;
  source: AlertSource;
  kind: string;
  subject: string | null;
  title: string;
  message: string;
  details: Record<string, unknown>;
  status: AlertStatus;
  occurrences: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** When channels were last told (raise or reminder): reminders go out a repeat interval after it. */
  lastNotifiedAt: Date | null;
  /** Channels that carried it: the "resolved" message goes to these. */
  notifiedChannels: AlertChannel[];
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
  acknowledgeComment: string | null;
  /** A user id, or `system` when the raiser resolved it (e.g. health recovered). */
  resolvedBy: string | null;
  resolvedAt: Date | null;
  resolveComment: string | null;
  /** Set by the service's clock on every change: the live stream's resume cursor is (changedAt, _id). */
  changedAt: Date;
  /** Count of changes (VersionedWriter): concurrent changes never overwrite each other. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

const alertSchema = new Schema<AlertDoc>(
  {
    _id: { type: String, required: true },
    fingerprint: { type: String, required: true, index: true },
    openKey: { type: String, required: true, unique: true },
    severity: { type: String, required: true, enum: ALERT_SEVERITIES },
    source: { type: String, required: true, enum: ALERT_SOURCES },
    kind: { type: String, required: true, maxlength: 100 },
    subject: { type: String, default: null, maxlength: 200 },
    title: { type: String, required: true, maxlength: 200 },
    message: { type: String, required: true, maxlength: 4000 },
    details: { type: Schema.Types.Mixed, default: {} },
    status: { type: String, required: true, enum: ALERT_STATUSES, default: 'open' },
    occurrences: { type: Number, required: true, default: 1, min: 1 },
    firstSeenAt: { type: Date, required: true },
    lastSeenAt: { type: Date, required: true },
    lastNotifiedAt: { type: Date, default: null },
    notifiedChannels: { type: [String], enum: ALERT_CHANNELS, default: [] },
    acknowledgedBy: { type: String, default: null },
    acknowledgedAt: { type: Date, default: null },
    acknowledgeComment: { type: String, default: null, maxlength: 1000 },
    resolvedBy: { type: String, default: null },
    resolvedAt: { type: Date, default: null },
    resolveComment: { type: String, default: null, maxlength: 1000 },
    changedAt: { type: Date, required: true },
    version: { type: Number, default: 0, min: 0 },
  },
  { collection: 'alerts', timestamps: true, versionKey: false, minimize: false },
);
alertSchema.index({ status: 1, lastSeenAt: -1 });
alertSchema.index({ changedAt: 1, _id: 1 });
alertSchema.index({ firstSeenAt: -1, _id: -1 });
alertSchema.index({ status: 1, resolvedAt: 1 });

export const DELIVERY_PURPOSES = ['raised', 'reminder', 'resolved', 'test'] as const;
export type DeliveryPurpose = (typeof DELIVERY_PURPOSES)[number];

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
/** `failed` is final: every attempt was used up. A delivery waiting for its next try is `pending`. */
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One message to one recipient on one channel: the outbox entry and its delivery record. */
export interface AlertDeliveryDoc {
  _id: string;
  alertId: string;
  channel: AlertChannel;
  /** An e-mail address, a phone number in E.164, a Slack webhook name, or `dashboard`. */
  recipient: string;
  purpose: DeliveryPurpose;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  /** Due time of the next attempt (pending only). */
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const deliverySchema = new Schema<AlertDeliveryDoc>(
  {
    _id: { type: String, required: true },
    alertId: { type: String, required: true, index: true },
    channel: { type: String, required: true, enum: ALERT_CHANNELS },
    recipient: { type: String, required: true, maxlength: 320 },
    purpose: { type: String, required: true, enum: DELIVERY_PURPOSES },
    status: { type: String, required: true, enum: DELIVERY_STATUSES, default: 'pending' },
    attempts: { type: Number, required: true, default: 0, min: 0 },
    lastError: { type: String, default: null, maxlength: 1000 },
    nextAttemptAt: { type: Date, default: null },
    deliveredAt: { type: Date, default: null },
  },
  { collection: 'alert_deliveries', timestamps: true, versionKey: false },
);
deliverySchema.index({ status: 1, nextAttemptAt: 1 });

export type AlertModel = Model<AlertDoc>;
export type AlertDeliveryModel = Model<AlertDeliveryDoc>;

export function registerAlertModels(conn: Connection): { Alert: AlertModel; AlertDelivery: AlertDeliveryModel } {
  return {
    Alert: (conn.models.Alert as AlertModel) ?? conn.model<AlertDoc>('Alert', alertSchema),
    AlertDelivery:
      (conn.models.AlertDelivery as AlertDeliveryModel) ??
      conn.model<AlertDeliveryDoc>('AlertDelivery', deliverySchema),
  };
}

import type { AlertDeliveryDoc, AlertDoc } from '../../models/alert.model';
import { encodeCursor } from './alert-cursor';

/** An alert as the API and the live stream show it (the dedup key `openKey` stays internal). */
export interface AlertView {
  id: string;
  fingerprint: string;
  severity: AlertDoc['severity'];
  source: AlertDoc['source'];
  kind: string;
  subject: string | null;
  title: string;
  message: string;
  details: Record<string, unknown>;
  status: AlertDoc['status'];
  occurrences: number;
  firstSeenAt: string;
  lastSeenAt: string;
  lastNotifiedAt: string | null;
  notifiedChannels: AlertDoc['notifiedChannels'];
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  acknowledgeComment: string | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
  resolveComment: string | null;
  changedAt: string;
  version: number;
}

export interface AlertDeliveryView {
  id: string;
  channel: AlertDeliveryDoc['channel'];
  recipient: string;
  purpose: AlertDeliveryDoc['purpose'];
  status: AlertDeliveryDoc['status'];
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

const iso = (d: Date | null | undefined): string | null => (d ? new Date(d).toISOString() : null);

export function alertView(a: AlertDoc): AlertView {
  return {
    id: a._id,
    fingerprint: a.fingerprint,
    severity: a.severity,
    source: a.source,
    kind: a.kind,
    subject: a.subject ?? null,
    title: a.title,
    message: a.message,
    details: a.details ?? {},
    status: a.status,
    occurrences: a.occurrences,
    firstSeenAt: new Date(a.firstSeenAt).toISOString(),
    lastSeenAt: new Date(a.lastSeenAt).toISOString(),
    lastNotifiedAt: iso(a.lastNotifiedAt),
    notifiedChannels: [...(a.notifiedChannels ?? [])],
    acknowledgedBy: a.acknowledgedBy ?? null,
    acknowledgedAt: iso(a.acknowledgedAt),
    acknowledgeComment: a.acknowledgeComment ?? null,
    resolvedBy: a.resolvedBy ?? null,
    resolvedAt: iso(a.resolvedAt),
    resolveComment: a.resolveComment ?? null,
    changedAt: new Date(a.changedAt).toISOString(),
    version: a.version ?? 0,
  };
}

export function deliveryView(d: AlertDeliveryDoc): AlertDeliveryView {
  return {
    id: d._id,
    channel: d.channel,
    recipient: d.recipient,
    purpose: d.purpose,
    status: d.status,
    attempts: d.attempts,
    lastError: d.lastError ?? null,
    nextAttemptAt: iso(d.nextAttemptAt),
    deliveredAt: iso(d.deliveredAt),
    createdAt: new Date(d.createdAt).toISOString(),
  };
}

/** The live stream's event id of this state of the alert: its resume cursor over (changedAt, _id). */
export function streamEventId(a: Pick<AlertDoc, '_id' | 'changedAt'>): string {
  return encodeCursor({ at: new Date(a.changedAt), id: a._id });
}

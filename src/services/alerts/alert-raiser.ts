/**
 * The one way any capability raises an alert (health thresholds, backups, security signals,
 * the process itself). AlertService implements it; callers depend only on this interface.
 */
export const ALERT_SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const ALERT_SOURCES = ['health', 'backup', 'security', 'auth', 'system', 'custom'] as const;
export type AlertSource = (typeof ALERT_SOURCES)[number];

/** What identifies "the same alert" for deduplication: fingerprint = source + kind + subject. */
export interface AlertKey {
  source: AlertSource;
  /** What happened, e.g. `redis.down`, `backup.failed`, `health.threshold`. */
  kind: string;
  /** What it happened to, e.g. a component (`mongodb:latency`), an address, a backup id. */
  subject?: string;
}

export interface AlertInput extends AlertKey {
  severity: AlertSeverity;
  /** One line, shown as the subject of an e-mail and the head of an SMS. */
  title: string;
  message: string;
  /** Structured facts (never secrets): shown as fields in Slack and the dashboard. */
  details?: Record<string, unknown>;
}

export interface RaisedAlert {
  id: string;
  fingerprint: string;
  /** false when an open alert with this fingerprint already existed (its count went up, nobody was notified again). */
  created: boolean;
  occurrences: number;
}

export interface AlertRaiser {
  /** Returns once the alert is stored; notifications are sent afterwards from the outbox. Never throws for delivery problems. */
  raise(input: AlertInput): Promise<RaisedAlert>;
  /**
   * The raiser's own recovery (e.g. health back to pass): resolves the open alert with this
   * key, if there is one, and notifies the channels that carried it. Returns whether one was open.
   */
  resolveByKey(key: AlertKey, note?: string): Promise<boolean>;
}

/** What changed about an alert; published by AlertService, relayed to live dashboards by the alert stream. */
export interface AlertChange {
  type: 'raised' | 'repeated' | 'acknowledged' | 'resolved' | 'delivery-failed';
  alertId: string;
}

/** Where AlertService announces changes (the Redis pub/sub relay behind `GET /api/v1/alerts/stream`). */
export interface AlertChangePublisher {
  publish(change: AlertChange): Promise<void>;
}

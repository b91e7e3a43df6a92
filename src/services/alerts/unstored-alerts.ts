import type { Logger } from '../../lib/logger';
// Where the alert service and its tests have always found it.
export { isDatabaseUnreachable } from '../../lib/database-errors';
import type { RedisClient } from '../../lib/redis';
import type { AlertChannel, AlertDoc } from '../../models/alert.model';
import { sendWithTimeout, type AlertChannelAdapter } from './channel';
import type { RecipientResolver, RoutedChannel } from './routing';

/** One message sent directly (not through the outbox), to be recorded as a delivery once the database is back. */
export interface DirectSend {
  channel: AlertChannel;
  recipient: string;
  purpose: 'raised' | 'resolved';
  at: Date;
  /** null: the peer accepted it. */
  error: string | null;
}

export interface UnstoredAlert {
  /** Shaped like a stored alert (channels render it); stored under the same id on flush, so links keep working. */
  alert: AlertDoc;
  routed: RoutedChannel[];
  /** Our own direct sends; empty when another process won the send (it records its own). */
  sends: DirectSend[];
  /** Another process sent this alert (the Redis claim named its id): this one only keeps count. */
  sentByPeer: boolean;
  /** Direct sends in progress: the flush leaves the alert for a later one. */
  sending: boolean;
  /** Settles when the raise's direct sends are done (a resolve waits for them: it tells whom they reached). */
  sent: Promise<void>;
}

export interface UnstoredAlertsDeps {
  redis: RedisClient;
  adapters: AlertChannelAdapter[];
  recipients: RecipientResolver;
  logger: Logger;
  /** `${ALERT_CONSOLE_URL}`: messages link to `<consoleUrl>/<alert id>`. */
  consoleUrl: string;
  timeoutsMs: Partial<Record<AlertChannel, number>>;
  /** How long one fingerprint is claimed in Redis: other processes raising it meanwhile send nothing. */
  dedupWindowMs: number;
  /** Most alerts kept for the flush; the oldest is dropped (logged) when full. */
  capacity: number;
  now?: () => Date;
}

const claimKey = (fingerprint: string): string => `alerts:unstored:${fingerprint}`;

/**
 * The alerts that could not be stored because MongoDB was unreachable. They are sent
 * directly on their routed channels (the dashboard is the database, so not there), once
 * across processes (a Redis `SET NX PX` per fingerprint; per process when Redis is down
 * too), and kept here, bounded, until AlertService stores them when the database answers.
 */
export class UnstoredAlerts {
  private readonly now: () => Date;
  private readonly adapters: Map<AlertChannel, AlertChannelAdapter>;
  /** Oldest first (Map keeps insertion order), by alert id. */
  private readonly buffer = new Map<string, UnstoredAlert>();
  /** Fingerprints this process sent while Redis was unreachable too: fingerprint → until (ms). */
  private readonly sentLocally = new Map<string, number>();

  constructor(private readonly deps: UnstoredAlertsDeps) {
    this.now = deps.now ?? (() => new Date());
    this.adapters = new Map(deps.adapters.map((a) => [a.channel, a]));
  }

  get size(): number {
    return this.buffer.size;
  }

  /** The buffered alerts, oldest first (a copy: the flush removes while it walks). */
  entries(): UnstoredAlert[] {
    return [...this.buffer.values()];
  }

  remove(id: string): void {
    this.buffer.delete(id);
  }

  /** The open buffered alert of a fingerprint, if any. */
  openOf(fingerprint: string): UnstoredAlert | undefined {
    for (const e of this.buffer.values())
      if (e.alert.fingerprint === fingerprint && e.alert.status !== 'resolved') return e;
    return undefined;
  }

  /**
   * Takes an alert the database refused to store. A repeat of a buffered one only counts;
   * a new one is sent directly unless another process claimed its fingerprint (then it is
   * kept under that process's alert id, so both flushes land on one alert).
   */
  async raise(alert: AlertDoc, routed: RoutedChannel[]): Promise<UnstoredAlert> {
    const open = this.openOf(alert.fingerprint);
    if (open) {
      open.alert.occurrences++;
      open.alert.lastSeenAt = alert.lastSeenAt;
      return open;
    }
    const claim = await this.claim(alert);
    const entry: UnstoredAlert = {
      alert: { ...alert, _id: claim.id },
      routed,
      sends: [],
      sentByPeer: !claim.won,
      sending: claim.won,
      sent: Promise.resolve(),
    };
    this.keep(entry);
    if (claim.won) {
      const sending = this.sendAll(entry.alert, 'raised', this.addressed(routed));
      entry.sent = sending.then(
        () => undefined,
        () => undefined,
      );
      try {
        entry.sends = await sending;
      } finally {
        entry.sending = false;
      }
      this.deps.logger.error(
        {
          alertId: entry.alert._id,
          kind: alert.kind,
          subject: alert.subject,
          sent: entry.sends.filter((s) => s.error === null).length,
          failed: entry.sends.filter((s) => s.error !== null).length,
        },
        'alert not stored (database unreachable): sent directly',
      );
    } else {
      this.deps.logger.warn(
        { alertId: claim.id, kind: alert.kind },
        'alert not stored (database unreachable): another process sent it',
      );
    }
    return entry;
  }

  /**
   * Ends a buffered alert: the recipients this process reached hear that it is resolved
   * (directly), and the fingerprint's claim is freed so a recurrence pages again.
   */
  async resolve(entry: UnstoredAlert, note: string | null): Promise<void> {
    await entry.sent;
    const at = this.now();
    Object.assign(entry.alert, {
      status: 'resolved',
      openKey: `resolved:${entry.alert._id}`,
      resolvedBy: 'system',
      resolvedAt: at,
      resolveComment: note,
      changedAt: at,
    });
    const carried = new Map<AlertChannel, string[]>();
    for (const s of entry.sends)
      if (s.purpose === 'raised' && s.error === null)
        carried.set(s.channel, [...(carried.get(s.channel) ?? []), s.recipient]);
    entry.sending = true;
    try {
      const resolvedSends = await this.sendAll(
        entry.alert,
        'resolved',
        [...carried].map(([channel, recipients]) => ({ channel, recipients })),
      );
      entry.sends.push(...resolvedSends);
    } finally {
      entry.sending = false;
    }
    await this.release(entry.alert.fingerprint);
  }

  /** The problem ended (resolved here or in the database): a recurrence during an outage pages again. */
  async release(fingerprint: string): Promise<void> {
    this.sentLocally.delete(fingerprint);
    await this.deps.redis.del(claimKey(fingerprint)).catch(() => undefined);
  }

  private keep(entry: UnstoredAlert): void {
    while (this.buffer.size >= this.deps.capacity) {
      const [oldestId, oldest] = this.buffer.entries().next().value as [string, UnstoredAlert];
      this.buffer.delete(oldestId);
      this.deps.logger.error(
        { alertId: oldestId, kind: oldest.alert.kind, subject: oldest.alert.subject, capacity: this.deps.capacity },
        'unstored alert dropped: buffer full (it was sent directly, but will not be stored)',
      );
    }
    this.buffer.set(entry.alert._id, entry);
  }

  /** Who sends this fingerprint: the first SET NX across processes, or this process's memory when Redis is down. */
  private async claim(alert: AlertDoc): Promise<{ won: boolean; id: string }> {
    const key = claimKey(alert.fingerprint);
    try {
      const set = await this.deps.redis.set(key, alert._id, 'PX', this.deps.dedupWindowMs, 'NX');
      if (set === 'OK') return { won: true, id: alert._id };
      return { won: false, id: (await this.deps.redis.get(key)) ?? alert._id };
    } catch (err) {
      const nowMs = this.now().getTime();
      for (const [fp, until] of this.sentLocally) if (until <= nowMs) this.sentLocally.delete(fp);
      this.deps.logger.warn(
        { err: { message: (err as Error).message } },
        'redis unreachable too: unstored alerts deduplicated in this process only',
      );
      if (this.sentLocally.has(alert.fingerprint)) return { won: false, id: alert._id };
      this.sentLocally.set(alert.fingerprint, nowMs + this.deps.dedupWindowMs);
      return { won: true, id: alert._id };
    }
  }

  /** Literal recipients, and roles as last resolved (resolving a role needs the database). */
  private addressed(routed: RoutedChannel[]): RoutedChannel[] {
    const out: RoutedChannel[] = [];
    for (const r of routed) {
      if (r.channel === 'dashboard') continue;
      const { recipients, unresolved } = this.deps.recipients.resolveWithoutDatabase(r.channel, r.recipients);
      if (unresolved.length)
        this.deps.logger.error(
          { channel: r.channel, roles: unresolved },
          'unstored alert: recipients of these roles are unknown without the database',
        );
      if (recipients.length) out.push({ channel: r.channel, recipients });
    }
    return out;
  }

  private async sendAll(
    alert: AlertDoc,
    purpose: DirectSend['purpose'],
    routed: RoutedChannel[],
  ): Promise<DirectSend[]> {
    const jobs: Array<Promise<DirectSend>> = [];
    for (const { channel, recipients } of routed)
      for (const recipient of recipients)
        jobs.push(
          this.sendOne(alert, purpose, channel, recipient).then((error) => ({
            channel,
            recipient,
            purpose,
            at: this.now(),
            error,
          })),
        );
    return Promise.all(jobs);
  }

  /** null on success, else the error text; aborted after the channel's timeout, like the delivery worker. */
  private async sendOne(
    alert: AlertDoc,
    purpose: DirectSend['purpose'],
    channel: AlertChannel,
    recipient: string,
  ): Promise<string | null> {
    const adapter = this.adapters.get(channel);
    if (!adapter?.available) return `channel ${channel} is not configured`;
    const timeoutMs = this.deps.timeoutsMs[channel] ?? 10_000;
    const link = `${this.deps.consoleUrl}/${encodeURIComponent(alert._id)}`;
    const error = await sendWithTimeout(adapter, { alert, purpose, recipient, link }, timeoutMs);
    if (error !== null)
      this.deps.logger.error({ alertId: alert._id, channel, purpose, error }, 'direct alert send failed');
    return error;
  }
}

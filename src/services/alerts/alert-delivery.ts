import type { Logger } from '../../lib/logger';
import type {
  AlertChannel,
  AlertDeliveryDoc,
  AlertDeliveryModel,
  AlertDoc,
  AlertModel,
} from '../../models/alert.model';
import type { AuditTrail } from '../audit/audit-trail';
import type { SingleUseClaims } from '../auth/single-use-claims';
import { sendWithTimeout, type AlertChannelAdapter } from './channel';

export interface DeliveryOutcomeHooks {
  delivered(delivery: AlertDeliveryDoc): Promise<void>;
  failed(delivery: AlertDeliveryDoc): Promise<void>;
}

export interface AlertDeliveryWorkerDeps {
  deliveries: AlertDeliveryModel;
  alerts: AlertModel;
  claims: SingleUseClaims;
  audit: AuditTrail;
  logger: Logger;
  adapters: AlertChannelAdapter[];
  hooks: DeliveryOutcomeHooks;
  /** `${ALERT_CONSOLE_URL}`: messages link to `<consoleUrl>/<alert id>`. */
  consoleUrl: string;
  pollMs: number;
  maxAttempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  /** Sends in flight at once per channel in this process. */
  concurrency: number;
  timeoutsMs: Record<AlertChannel, number>;
  breaker: { threshold: number; cooldownMs: number };
  /** Runs at the start of every poll, when the database may be back: stores alerts kept while it was down. Must not throw. */
  beforePoll?: () => Promise<unknown>;
  now?: () => Date;
  /** [0, 1): the backoff jitter (tests pin it). */
  random?: () => number;
}

/** How many due entries one poll looks at. */
const SCAN_LIMIT = 200;
/** Lease added to a send's timeout: a process that dies mid-send leaves the entry due again after it. */
const LEASE_MARGIN_MS = 60_000;

interface BreakerState {
  failures: number;
  openUntil: number;
  trialInFlight: boolean;
}

/**
 * Per channel (and per webhook for Slack) in this process: after `threshold` consecutive
 * failures it opens for `cooldownMs`; then one trial send decides. While open, due entries
 * stay pending and use no attempts, so a dead webhook is not hammered and uses up nothing.
 */
export class CircuitBreakers {
  private readonly states = new Map<string, BreakerState>();

  constructor(private readonly cfg: { threshold: number; cooldownMs: number }) {}

  /** Whether a send may start now; reserves the single trial of a breaker whose cool-down ended. */
  acquire(key: string, now: number): boolean {
    const s = this.states.get(key);
    if (!s || s.failures < this.cfg.threshold) return true;
    if (now < s.openUntil || s.trialInFlight) return false;
    s.trialInFlight = true;
    return true;
  }

  success(key: string): void {
    this.states.delete(key);
  }

  /** A reserved send that did not happen (another process had the attempt): frees the trial, counts nothing. */
  release(key: string): void {
    const s = this.states.get(key);
    if (s) s.trialInFlight = false;
  }

  failure(key: string, now: number): void {
    const s = this.states.get(key) ?? { failures: 0, openUntil: 0, trialInFlight: false };
    s.failures++;
    s.trialInFlight = false;
    if (s.failures >= this.cfg.threshold) s.openUntil = now + this.cfg.cooldownMs;
    this.states.set(key, s);
  }

  isOpen(key: string, now: number): boolean {
    const s = this.states.get(key);
    return !!s && s.failures >= this.cfg.threshold && now < s.openUntil;
  }
}

const breakerKeyOf = (d: Pick<AlertDeliveryDoc, 'channel' | 'recipient'>): string =>
  d.channel === 'slack' ? `slack:${d.recipient}` : d.channel;

/**
 * Sends the outbox. Any number of processes run one each: every attempt is claimed first
 * by a unique insert (`alert-delivery:<id>:<attempt>`), so of all pollers exactly one makes
 * it. The claimer marks the attempt (attempts+1, due again after timeout + lease) before
 * sending, so a process that dies mid-send leaves the entry to another process after the
 * lease: at-least-once in that case, exactly once otherwise.
 *
 * Channels are independent lanes: each has its own concurrency budget, timeout and breaker,
 * and a poll dispatches without waiting for earlier sends, so a slow webhook never holds
 * back mail. Failures retry with exponential backoff and jitter up to `maxAttempts`; then
 * the entry is `failed`, audited, and the service raises the dashboard notice.
 */
export class AlertDeliveryWorker {
  private readonly now: () => Date;
  private readonly random: () => number;
  private readonly adapters: Map<AlertChannel, AlertChannelAdapter>;
  private readonly breakers: CircuitBreakers;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly lanes = new Map<AlertChannel, number>();
  private timer: NodeJS.Timeout | undefined;
  private scan: Promise<Array<Promise<void>>> | undefined;
  private stopped = true;

  constructor(private readonly deps: AlertDeliveryWorkerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.random = deps.random ?? Math.random;
    this.adapters = new Map(deps.adapters.map((a) => [a.channel, a]));
    this.breakers = new CircuitBreakers(deps.breaker);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = (): void => {
      if (this.stopped) return;
      void this.dispatch()
        .catch((err: unknown) =>
          this.deps.logger.error({ err: { message: (err as Error).message } }, 'alert delivery poll failed'),
        )
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.deps.pollMs);
        });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref?.();
  }

  /** Stops polling and waits for the sends in flight (each bounded by its channel timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.scan) await this.scan.catch(() => undefined);
    await Promise.allSettled([...this.inFlight.values()]);
    for (const a of this.adapters.values()) a.close?.();
  }

  /**
   * One poll, waiting for the sends it started (tests drive the worker with this and the
   * injected clock). If the polling loop is scanning right now, waits for that scan and its
   * sends first, so a caller always gets a complete poll of its own.
   */
  async runOnce(): Promise<void> {
    while (this.scan) await Promise.all(await this.scan);
    await Promise.all(await this.dispatch());
  }

  /** Whether a channel's (or webhook's) breaker holds its deliveries back now. */
  breakerOpen(channel: AlertChannel, recipient = ''): boolean {
    return this.breakers.isOpen(breakerKeyOf({ channel, recipient }), this.now().getTime());
  }

  /** Starts every due send a lane has room for; returns the started sends. One scan at a time per process. */
  private dispatch(): Promise<Array<Promise<void>>> {
    if (this.scan) return Promise.resolve([]);
    const scan = this.scanDue().finally(() => {
      this.scan = undefined;
    });
    this.scan = scan;
    return scan;
  }

  private async scanDue(): Promise<Array<Promise<void>>> {
    await this.deps.beforePoll?.();
    const now = this.now();
    const due = await this.deps.deliveries
      .find({ status: 'pending', nextAttemptAt: { $lte: now } })
      .sort({ nextAttemptAt: 1, _id: 1 })
      .limit(SCAN_LIMIT)
      .lean<AlertDeliveryDoc[]>();
    const started: Array<Promise<void>> = [];
    for (const d of due) {
      if (this.inFlight.has(d._id)) continue;
      if (d.purpose !== 'raised' && d.purpose !== 'test' && (await this.earlierNoticePending(d))) continue;
      if ((this.lanes.get(d.channel) ?? 0) >= this.deps.concurrency) continue;
      if (!this.breakers.acquire(breakerKeyOf(d), now.getTime())) continue;
      this.lanes.set(d.channel, (this.lanes.get(d.channel) ?? 0) + 1);
      const run = this.attempt(d)
        .catch((err: unknown) =>
          this.deps.logger.error(
            { err: { message: (err as Error).message }, deliveryId: d._id },
            'alert delivery bookkeeping failed',
          ),
        )
        .finally(() => {
          this.inFlight.delete(d._id);
          this.lanes.set(d.channel, (this.lanes.get(d.channel) ?? 1) - 1);
        });
      this.inFlight.set(d._id, run);
      started.push(run);
    }
    return started;
  }

  /**
   * Messages of one alert reach one recipient in order: a reminder or "resolved" waits while
   * an earlier notice to the same recipient on the same channel is still on its way
   * (retrying, or in flight).
   */
  private async earlierNoticePending(d: AlertDeliveryDoc): Promise<boolean> {
    const earlier = await this.deps.deliveries.exists({
      _id: { $ne: d._id },
      alertId: d.alertId,
      channel: d.channel,
      recipient: d.recipient,
      purpose: { $in: ['raised', 'reminder'] },
      status: 'pending',
      ...(d.purpose === 'reminder' ? { createdAt: { $lt: d.createdAt } } : {}),
    });
    return earlier !== null;
  }

  private async attempt(d: AlertDeliveryDoc): Promise<void> {
    const attempt = d.attempts + 1;
    const key = breakerKeyOf(d);
    const startedAt = this.now();
    const timeoutMs = this.deps.timeoutsMs[d.channel] ?? 10_000;
    const leaseEnd = new Date(startedAt.getTime() + timeoutMs + LEASE_MARGIN_MS);
    // The claim only matters until the attempt is marked below (then the next attempt has
    // another key). A process dying between the two leaves this attempt claimed until the
    // daily claims purge (auth retention) removes the expired claim: a rare, bounded delay.
    if (!(await this.deps.claims.claim(`alert-delivery:${d._id}:${attempt}`, leaseEnd))) {
      // Another process has this attempt; give the breaker's trial back untouched.
      this.breakers.release(key);
      return;
    }
    await this.deps.deliveries.updateOne({ _id: d._id }, { $set: { attempts: attempt, nextAttemptAt: leaseEnd } });
    const marked: AlertDeliveryDoc = { ...d, attempts: attempt };
    const alert = await this.deps.alerts.findById(d.alertId).lean<AlertDoc>();
    let error: string | null;
    if (!alert) error = 'the alert no longer exists';
    else {
      const adapter = this.adapters.get(d.channel);
      if (!adapter?.available) error = `channel ${d.channel} is not configured`;
      else error = await this.sendDelivery(adapter, alert, marked, timeoutMs);
    }
    const now = this.now();
    if (error === null) {
      this.breakers.success(key);
      const done: AlertDeliveryDoc = {
        ...marked,
        status: 'delivered',
        deliveredAt: now,
        nextAttemptAt: null,
        lastError: null,
      };
      await this.deps.deliveries.updateOne(
        { _id: d._id },
        { $set: { status: 'delivered', deliveredAt: now, nextAttemptAt: null, lastError: null } },
      );
      await this.auditOutcome(done);
      await this.deps.hooks.delivered(done);
      return;
    }
    this.breakers.failure(key, now.getTime());
    const lastError = error.slice(0, 1000);
    if (attempt >= this.deps.maxAttempts || !alert) {
      const failed: AlertDeliveryDoc = { ...marked, status: 'failed', nextAttemptAt: null, lastError };
      await this.deps.deliveries.updateOne(
        { _id: d._id },
        { $set: { status: 'failed', nextAttemptAt: null, lastError } },
      );
      this.deps.logger.error(
        { deliveryId: d._id, alertId: d.alertId, channel: d.channel, attempts: attempt, lastError },
        'alert delivery failed for good',
      );
      await this.auditOutcome(failed);
      await this.deps.hooks.failed(failed);
      return;
    }
    const next = new Date(now.getTime() + this.backoff(attempt));
    await this.deps.deliveries.updateOne({ _id: d._id }, { $set: { nextAttemptAt: next, lastError } });
    this.deps.logger.warn(
      { deliveryId: d._id, channel: d.channel, attempt, nextAttemptAt: next.toISOString(), lastError },
      'alert delivery failed; will retry',
    );
  }

  /** One outbox entry as a message (with its console link), sent within the channel timeout. */
  private sendDelivery(
    adapter: AlertChannelAdapter,
    alert: AlertDoc,
    d: AlertDeliveryDoc,
    timeoutMs: number,
  ): Promise<string | null> {
    const link = `${this.deps.consoleUrl}/${encodeURIComponent(alert._id)}`;
    return sendWithTimeout(adapter, { alert, purpose: d.purpose, recipient: d.recipient, link }, timeoutMs);
  }

  /** base * 2^(attempt-1), capped, times a jitter of 0.5-1.5 so retries of many processes spread out. */
  private backoff(attempt: number): number {
    const raw = Math.min(this.deps.backoffMaxMs, this.deps.backoffMs * 2 ** (attempt - 1));
    return Math.round(raw * (0.5 + this.random()));
  }

  private async auditOutcome(d: AlertDeliveryDoc): Promise<void> {
    try {
      await this.deps.audit.record({
        action: d.status === 'delivered' ? 'alert.delivery.delivered' : 'alert.delivery.failed',
        outcome: d.status === 'delivered' ? 'succeeded' : 'failed',
        resource: 'alert',
        resourceId: d.alertId,
        // The recipient may be personal data (an address, a number): the channel and entry id are enough.
        details: {
          deliveryId: d._id,
          channel: d.channel,
          purpose: d.purpose,
          attempts: d.attempts,
          lastError: d.lastError,
        },
      });
    } catch (err) {
      this.deps.logger.error(
        { err: { message: (err as Error).message }, deliveryId: d._id },
        'delivery outcome not audited',
      );
    }
  }
}

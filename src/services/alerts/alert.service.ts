import { createHash, randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type {
  AlertChannel,
  AlertDeliveryDoc,
  AlertDeliveryModel,
  AlertDoc,
  AlertModel,
  DeliveryPurpose,
} from '../../models/alert.model';
import type { AlertOccurrenceModel } from '../../models/alert-occurrence.model';
import type { AuditTrail } from '../audit/audit-trail';
import type { SingleUseClaims } from '../auth/single-use-claims';
import type { VersionedWriter } from '../versioning/versioned-writer';
import type {
  AlertChange,
  AlertChangePublisher,
  AlertInput,
  AlertSeverity,
  AlertKey,
  AlertRaiser,
  RaisedAlert,
} from './alert-raiser';
import type { AlertActor, AlertCommands } from './alert-commands';
import type { AlertRouting, RecipientResolver, RoutedChannel } from './routing';
import { isDatabaseUnreachable, type UnstoredAlert, type UnstoredAlerts } from './unstored-alerts';

export type { AlertActor };

export interface AlertServiceDeps {
  alerts: AlertModel;
  deliveries: AlertDeliveryModel;
  occurrences: AlertOccurrenceModel;
  writer: VersionedWriter;
  claims: SingleUseClaims;
  audit: AuditTrail;
  logger: Logger;
  routing: AlertRouting;
  recipients: RecipientResolver;
  /** Live dashboards (the alert stream). Optional; a failing publish never fails a change. */
  publisher?: AlertChangePublisher;
  /** A repeat after a longer silence than this notifies again (as a reminder). */
  dedupWindowMs: number;
  /** While an alert keeps occurring, a reminder goes out at most this often. */
  repeatIntervalMs: number;
  /** HTTP 500s per minute in this process that raise `http.error-rate`. */
  errorRateThreshold?: number;
  /** Told of every new alert (not of repeats): the metrics. Must not throw. */
  onRaised?: (severity: AlertSeverity) => void;
  /**
   * Where alerts go when MongoDB is unreachable: sent directly, kept, and stored by
   * flushUnstored() once the database answers. Without it a raise then throws.
   */
  unstored?: UnstoredAlerts;
  now?: () => Date;
}

const TITLE_MAX = 200;
const MESSAGE_MAX = 4000;
const SUBJECT_MAX = 200;
const COMMENT_MAX = 1000;
const DETAILS_MAX_BYTES = 8_000;
/** Bounded retries of system writes that lost a versioned race (they re-read and re-decide each time). */
const MAX_WRITE_ROUNDS = 200;
/**
 * lastSeenAt moves in steps of at least this much: in a storm, raisers whose count is
 * already stored do not each race to write a timestamp a few milliseconds newer.
 */
const LAST_SEEN_PRECISION_MS = 1000;
/** The purposes whose recipients were told about the problem, and so hear of its end. */
const CARRYING: DeliveryPurpose[] = ['raised', 'reminder'];

export function fingerprintOf(key: AlertKey): string {
  return createHash('sha256')
    .update(`${key.source}\n${key.kind}\n${key.subject ?? ''}`)
    .digest('hex');
}

const isDuplicateKey = (err: unknown): boolean => (err as { code?: number }).code === 11000;

/** Outbox ids are deterministic (alert, purpose, round, channel, recipient): the same message is never queued twice. */
const deliveryIdOf = (
  alertId: string,
  purpose: DeliveryPurpose,
  round: string,
  channel: AlertChannel,
  recipient: string,
) => `${alertId}:${purpose}:${round}:${channel}:${createHash('sha256').update(recipient).digest('hex').slice(0, 16)}`;
const isStale = (err: unknown): boolean => err instanceof AppError && err.code === 'stale-version';

/** Details must be small plain JSON: anything else is replaced by a note rather than failing the raise. */
function boundedDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!details) return {};
  try {
    const json = JSON.stringify(details);
    if (json.length > DETAILS_MAX_BYTES) return { note: `details omitted (${json.length} bytes)` };
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    return { note: 'details omitted (not JSON)' };
  }
}

/**
 * The alert engine: stores alerts (deduplicated by fingerprint across processes), puts their
 * messages in the outbox (AlertDelivery) for the delivery worker, and records who
 * acknowledged and resolved what. All state is in MongoDB.
 *
 * Deduplication: the raise that inserts `openKey = fingerprint` first creates the alert
 * (the unique index picks one winner among any number of processes); every other raise
 * adds an occurrence. Occurrences are counted exactly by inserting one document each and
 * counting them; `$inc` would be shorter, but FerretDB applies it as read-then-write: of
 * 100 concurrent `$inc`s on one document it kept 50, 6 and 5 in three measured runs
 * (FerretDB 1.24, one process). Each raiser then writes the count it saw into the alert
 * through the VersionedWriter (one writer per version) and retries until the stored count
 * is at least its own; the last raiser counts after every insert, so the stored count ends
 * exact. A losing writer usually finds a higher count already stored and stops, so a storm
 * costs about one insert, one count and a few claims per raise.
 */
export class AlertService implements AlertRaiser, AlertCommands {
  private readonly now: () => Date;
  private readonly publishing = new Set<Promise<void>>();
  private flushing: Promise<number> | undefined;
  private errorMinute = -1;
  private errorsThisMinute = 0;

  constructor(private readonly deps: AlertServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  // ------------------------------------------------------------------ raising

  async raise(input: AlertInput): Promise<RaisedAlert> {
    const unstored = this.deps.unstored;
    if (!unstored) return this.raiseRouted(input, undefined);
    const fingerprint = fingerprintOf(input);
    // A buffered alert of this fingerprint goes to the database first, or this raise would open a second one.
    if (unstored.openOf(fingerprint)) await this.flushUnstored();
    // Also the id kept if the store fails half-way (alert inserted, outbox not): the flush then completes that alert.
    const id = randomUUID();
    if (!unstored.openOf(fingerprint) && this.databaseMayAnswer()) {
      try {
        return await this.raiseRouted(input, undefined, id);
      } catch (err) {
        if (!isDatabaseUnreachable(err)) throw err;
        this.deps.logger.error({ err: { message: (err as Error).message } }, 'alert not stored: database unreachable');
      }
    }
    return this.raiseUnstored(input, fingerprint, id);
  }

  /** The database is unreachable: send directly (once across processes) and keep the alert for flushUnstored(). */
  private async raiseUnstored(input: AlertInput, fingerprint: string, id: string): Promise<RaisedAlert> {
    const unstored = this.deps.unstored as UnstoredAlerts;
    const now = this.now();
    const routed = this.deps.routing.route(input.severity, input.source);
    const alert: AlertDoc = {
      ...this.newAlert(id, fingerprint, input, now, routed),
      acknowledgedBy: null,
      acknowledgedAt: null,
      acknowledgeComment: null,
      resolvedBy: null,
      resolvedAt: null,
      resolveComment: null,
      createdAt: now,
      updatedAt: now,
    };
    const entry = await unstored.raise(alert, routed);
    const created = entry.alert.occurrences === 1 && !entry.sentByPeer;
    return { id: entry.alert._id, fingerprint, created, occurrences: entry.alert.occurrences };
  }

  /**
   * mongoose knows the server is gone (it would queue the insert until its buffer timeout):
   * go to the unstored path at once rather than keep the raiser waiting.
   */
  private databaseMayAnswer(): boolean {
    return this.deps.alerts.db.readyState !== 0;
  }

  private newAlert(id: string, fingerprint: string, input: AlertInput, now: Date, routed: RoutedChannel[]) {
    return {
      _id: id,
      fingerprint,
      openKey: fingerprint,
      severity: input.severity,
      source: input.source,
      kind: input.kind.slice(0, 100),
      subject: input.subject?.slice(0, SUBJECT_MAX) ?? null,
      title: input.title.slice(0, TITLE_MAX),
      message: input.message.slice(0, MESSAGE_MAX),
      details: boundedDetails(input.details),
      status: 'open' as const,
      occurrences: 1,
      firstSeenAt: now,
      lastSeenAt: now,
      lastNotifiedAt: now,
      notifiedChannels: routed.some((r) => r.channel === 'dashboard') ? (['dashboard'] as AlertChannel[]) : [],
      changedAt: now,
      version: 0,
    };
  }

  /**
   * `channels` overrides the routing table (system notices about the alert path itself go to
   * the dashboard only, so a failing channel cannot page through itself in a loop).
   */
  private async raiseRouted(
    input: AlertInput,
    channels: AlertChannel[] | undefined,
    firstId?: string,
  ): Promise<RaisedAlert> {
    const fingerprint = fingerprintOf(input);
    for (let round = 0; round < 5; round++) {
      const now = this.now();
      const id = round === 0 && firstId ? firstId : randomUUID();
      const routed = channels
        ? this.deps.routing.explicit(channels, input.severity)
        : this.deps.routing.route(input.severity, input.source);
      let created: AlertDoc;
      try {
        const doc = await this.deps.alerts.create(this.newAlert(id, fingerprint, input, now, routed));
        created = doc.toObject() as AlertDoc;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const open = await this.deps.alerts.findOne({ openKey: fingerprint }).lean<AlertDoc>();
        // Resolved between our insert and this read: the next round opens a new alert.
        if (!open) continue;
        try {
          return await this.addOccurrence(open, now);
        } catch (occurrenceErr) {
          if (!this.deps.unstored || !isDatabaseUnreachable(occurrenceErr)) throw occurrenceErr;
          // Stored, and its recipients were told: only this occurrence goes uncounted (no second page).
          this.deps.logger.warn({ alertId: open._id }, 'alert occurrence not counted: database unreachable');
          return { id: open._id, fingerprint, created: false, occurrences: open.occurrences };
        }
      }
      try {
        await this.enqueue(created, 'raised', '0', routed);
      } catch (err) {
        // No alert without its notifications: otherwise every repeat would count silently.
        await this.deps.alerts.deleteOne({ _id: id }).catch(() => undefined);
        throw err;
      }
      await this.auditSafely({
        action: 'alert.raised',
        outcome: 'succeeded',
        resource: 'alert',
        resourceId: id,
        details: { severity: created.severity, source: created.source, kind: created.kind, subject: created.subject },
      });
      this.changed('raised', id);
      this.deps.onRaised?.(created.severity);
      this.deps.logger.warn(
        { alertId: id, severity: created.severity, source: created.source, kind: created.kind },
        'alert raised',
      );
      return { id, fingerprint, created: true, occurrences: 1 };
    }
    throw AppError.serviceUnavailable('The alert could not be stored; try again.');
  }

  private async addOccurrence(open: AlertDoc, at: Date): Promise<RaisedAlert> {
    await this.deps.occurrences.create({ _id: randomUUID(), alertId: open._id, at });
    const remind = await this.claimReminder(open, at);
    let current: AlertDoc | null = open;
    let count = open.occurrences;
    let reminderWritten = !remind;
    let wrote = false;
    for (let round = 0; round < MAX_WRITE_ROUNDS && current && current.status !== 'resolved'; round++) {
      count = 1 + (await this.deps.occurrences.countDocuments({ alertId: open._id }));
      const set: Record<string, unknown> = {};
      if (current.occurrences < count) set.occurrences = count;
      if (at.getTime() - current.lastSeenAt.getTime() >= LAST_SEEN_PRECISION_MS) set.lastSeenAt = at;
      if (!reminderWritten) set.lastNotifiedAt = at;
      if (Object.keys(set).length === 0) break;
      try {
        current = await this.deps.writer.update(this.deps.alerts, current, { ...set, changedAt: this.now() }, 'alert');
        reminderWritten = true;
        wrote = true;
        count = Math.max(count, current.occurrences);
        break;
      } catch (err) {
        if (!isStale(err)) throw err;
        current = await this.deps.alerts.findById(open._id).lean<AlertDoc>();
        if (current) count = Math.max(count, current.occurrences);
      }
    }
    if (remind && current && current.status !== 'resolved') {
      await this.enqueue(
        current,
        'reminder',
        String(at.getTime()),
        this.deps.routing.route(open.severity, open.source),
      );
      this.deps.logger.warn({ alertId: open._id, occurrences: count }, 'alert still open: reminder sent');
    }
    // Only the raisers that changed the alert announce it: a storm of 100 is not 100 events.
    if (wrote) this.changed('repeated', open._id);
    return { id: open._id, fingerprint: open.fingerprint, created: false, occurrences: count };
  }

  /**
   * A repeat notifies again when the last notice is a repeat interval old, or when the alert
   * was quiet for longer than the dedup window; acknowledged alerts never remind (someone is
   * on it). Exactly one raiser across processes wins the reminder of a given last notice.
   */
  private async claimReminder(open: AlertDoc, at: Date): Promise<boolean> {
    if (open.status !== 'open') return false;
    const lastNotified = (open.lastNotifiedAt ?? open.firstSeenAt).getTime();
    const due = at.getTime() - lastNotified >= this.deps.repeatIntervalMs;
    const quiet = at.getTime() - open.lastSeenAt.getTime() >= this.deps.dedupWindowMs;
    if (!due && !quiet) return false;
    return this.deps.claims.claim(
      `alert-reminder:${open._id}:${lastNotified}`,
      new Date(at.getTime() + this.deps.repeatIntervalMs + 86_400_000),
    );
  }

  async resolveByKey(key: AlertKey, note?: string): Promise<boolean> {
    const fingerprint = fingerprintOf(key);
    const unstored = this.deps.unstored;
    if (unstored?.openOf(fingerprint)) {
      await this.flushUnstored();
      const buffered = unstored.openOf(fingerprint);
      // Still unstored (the database is down): its recipients hear directly; the flush stores it resolved.
      if (buffered) {
        await unstored.resolve(buffered, note ?? null);
        await this.flushUnstored();
        return true;
      }
    }
    const open = await this.deps.alerts.findOne({ openKey: fingerprint }).lean<AlertDoc>();
    if (!open) return false;
    try {
      await this.resolveDoc(open, null, note ?? null);
      return true;
    } catch (err) {
      if (err instanceof AppError && (err.status === 409 || err.status === 404)) return false;
      throw err;
    }
  }

  // ------------------------------------------------------------------ alerts raised while the database was down

  /**
   * Stores the alerts kept while MongoDB was unreachable, oldest first (the delivery worker
   * calls this on every poll). Stops at the first that still cannot reach the database;
   * one failing for another reason is logged and dropped (it would fail forever).
   * Returns how many were stored. Never throws.
   */
  async flushUnstored(): Promise<number> {
    const unstored = this.deps.unstored;
    if (!unstored || unstored.size === 0 || !this.databaseMayAnswer()) return 0;
    this.flushing ??= this.flushAll(unstored).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flushAll(unstored: UnstoredAlerts): Promise<number> {
    let stored = 0;
    for (const entry of unstored.entries()) {
      // Still sending directly: its outcome is not known yet; the next flush takes it.
      if (entry.sending) continue;
      try {
        await this.storeUnstored(entry);
        unstored.remove(entry.alert._id);
        stored++;
      } catch (err) {
        if (isDatabaseUnreachable(err)) break;
        unstored.remove(entry.alert._id);
        this.deps.logger.error(
          { err: { message: (err as Error).message }, alertId: entry.alert._id, kind: entry.alert.kind },
          'unstored alert could not be stored: dropped',
        );
      }
    }
    if (stored) this.deps.logger.info({ stored, left: unstored.size }, 'unstored alerts stored');
    return stored;
  }

  /**
   * One kept alert into the database, under the id its messages linked to. The messages sent
   * directly become delivered outbox entries (never sent again; a failed one is left pending
   * for the worker). Another process may have stored the same alert (same id, from the Redis
   * claim): then this one adds its records and its occurrence. Another alert of the
   * fingerprint opened meanwhile: this one counts as its repeat (or resolves it).
   */
  private async storeUnstored(entry: UnstoredAlert): Promise<void> {
    const a = entry.alert;
    const resolved = a.status === 'resolved';
    for (let round = 0; round < 5; round++) {
      const notified = new Set(a.notifiedChannels);
      for (const s of entry.sends) if (s.purpose === 'raised' && s.error === null) notified.add(s.channel);
      let created = false;
      try {
        const { createdAt: _c, updatedAt: _u, ...fields } = a;
        await this.deps.alerts.create({
          ...fields,
          notifiedChannels: [...notified],
          changedAt: this.now(),
          version: 0,
        });
        created = true;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const same = created ? a : await this.deps.alerts.findById(a._id).lean<AlertDoc>();
      if (!same) {
        const open = await this.deps.alerts.findOne({ openKey: a.fingerprint }).lean<AlertDoc>();
        if (!open) continue;
        if (!resolved) await this.addOccurrence(open, a.lastSeenAt);
        else
          await this.resolveDoc(open, null, a.resolveComment).catch((err: unknown) => {
            if (!(err instanceof AppError && err.status === 409)) throw err;
          });
        return;
      }
      await this.recordDirectSends(entry);
      if (created) {
        await this.auditSafely({
          action: 'alert.raised',
          outcome: 'succeeded',
          resource: 'alert',
          resourceId: a._id,
          details: { severity: a.severity, source: a.source, kind: a.kind, subject: a.subject, unstored: true },
        });
        if (resolved)
          await this.auditSafely({
            action: 'alert.resolved',
            outcome: 'succeeded',
            resource: 'alert',
            resourceId: a._id,
            details: { by: 'raiser', occurrences: a.occurrences, unstored: true },
          });
        this.changed(resolved ? 'resolved' : 'raised', a._id);
        this.deps.onRaised?.(a.severity);
        this.deps.logger.warn({ alertId: a._id, kind: a.kind, status: a.status }, 'unstored alert stored');
      } else if (same.status !== 'resolved') {
        if (resolved)
          await this.resolveDoc(same, null, a.resolveComment).catch((err: unknown) => {
            if (!(err instanceof AppError && err.status === 409)) throw err;
          });
        // The other process's raise is stored; ours is one more occurrence of it.
        else await this.addOccurrence(same, a.lastSeenAt);
      }
      return;
    }
    throw AppError.serviceUnavailable('The unstored alert could not be stored; try again.');
  }

  /** The direct sends of a kept alert as outbox entries (idempotent: deterministic ids). */
  private async recordDirectSends(entry: UnstoredAlert): Promise<void> {
    const a = entry.alert;
    const now = this.now();
    const docs: Array<Partial<AlertDeliveryDoc>> = entry.sends.map((s) => {
      const retry = s.error !== null && s.purpose === 'raised' && a.status !== 'resolved';
      return {
        _id: deliveryIdOf(a._id, s.purpose, '0', s.channel, s.recipient),
        alertId: a._id,
        channel: s.channel,
        recipient: s.recipient,
        purpose: s.purpose,
        status: s.error === null ? 'delivered' : retry ? 'pending' : 'failed',
        attempts: 1,
        nextAttemptAt: retry ? now : null,
        deliveredAt: s.error === null ? s.at : null,
        lastError: s.error,
      };
    });
    if (entry.routed.some((r) => r.channel === 'dashboard'))
      for (const purpose of a.status === 'resolved' ? (['raised', 'resolved'] as const) : (['raised'] as const))
        docs.push({
          _id: deliveryIdOf(a._id, purpose, '0', 'dashboard', 'dashboard'),
          alertId: a._id,
          channel: 'dashboard',
          recipient: 'dashboard',
          purpose,
          status: 'delivered',
          attempts: 1,
          nextAttemptAt: null,
          deliveredAt: now,
        });
    await this.insertDeliveries(docs);
  }

  // ------------------------------------------------------------------ operators

  /**
   * Marks an open alert as being handled: no more reminders, and the dashboard shows who.
   * 404 if missing, 409 `alert-resolved` if resolved, 409 `already-acknowledged` if someone
   * acknowledged it already (the first acknowledgement stands).
   */
  async acknowledge(id: string, actor: AlertActor, comment?: string): Promise<AlertDoc> {
    let current = await this.load(id);
    for (let round = 0; ; round++) {
      if (current.status === 'resolved') throw AppError.conflict('The alert is already resolved.', 'alert-resolved');
      if (current.status === 'acknowledged')
        throw AppError.conflict(
          `The alert was already acknowledged by ${current.acknowledgedBy ?? 'someone'}.`,
          'already-acknowledged',
        );
      const now = this.now();
      try {
        const updated = await this.deps.writer.update(
          this.deps.alerts,
          current,
          {
            status: 'acknowledged',
            acknowledgedBy: actor.id,
            acknowledgedAt: now,
            acknowledgeComment: comment?.slice(0, COMMENT_MAX) ?? null,
            changedAt: now,
          },
          'alert',
        );
        await this.deps.audit.record({
          action: 'alert.acknowledged',
          outcome: 'succeeded',
          actorId: actor.id,
          actorRole: actor.role,
          resource: 'alert',
          resourceId: id,
          details: { comment: updated.acknowledgeComment !== null },
        });
        this.changed('acknowledged', id);
        return updated;
      } catch (err) {
        // A raiser counting occurrences changed it meanwhile: re-read and decide again.
        if (!isStale(err) || round >= 20) throw err;
        current = await this.load(id);
      }
    }
  }

  /** Ends an alert by hand; the channels that carried it get a "resolved" message. 409 `alert-resolved` if it already is. */
  async resolve(id: string, actor: AlertActor, comment?: string): Promise<AlertDoc> {
    return this.resolveDoc(await this.load(id), actor, comment?.slice(0, COMMENT_MAX) ?? null);
  }

  private async resolveDoc(start: AlertDoc, actor: AlertActor | null, comment: string | null): Promise<AlertDoc> {
    let current = start;
    for (let round = 0; ; round++) {
      if (current.status === 'resolved') throw AppError.conflict('The alert is already resolved.', 'alert-resolved');
      const now = this.now();
      try {
        const updated = await this.deps.writer.update(
          this.deps.alerts,
          current,
          {
            status: 'resolved',
            // Frees the fingerprint: the next raise opens a new alert.
            openKey: `resolved:${current._id}`,
            resolvedBy: actor?.id ?? 'system',
            resolvedAt: now,
            resolveComment: comment,
            changedAt: now,
          },
          'alert',
        );
        await this.enqueue(updated, 'resolved', '0', await this.carryingChannels(updated._id));
        await this.auditSafely({
          action: 'alert.resolved',
          outcome: 'succeeded',
          actorId: actor?.id ?? null,
          actorRole: actor?.role ?? null,
          resource: 'alert',
          resourceId: updated._id,
          details: { by: actor ? 'user' : 'raiser', occurrences: updated.occurrences },
        });
        this.changed('resolved', updated._id);
        await this.deps.unstored?.release(updated.fingerprint);
        return updated;
      } catch (err) {
        if (!isStale(err) || round >= 50) throw err;
        current = await this.load(start._id);
      }
    }
  }

  /** The (channel, recipient) pairs told about the alert, or about to be (pending): they hear that it ended. */
  private async carryingChannels(alertId: string): Promise<RoutedChannel[]> {
    const told = await this.deps.deliveries
      .find({ alertId, purpose: { $in: CARRYING }, status: { $in: ['delivered', 'pending'] } })
      .select({ channel: 1, recipient: 1 })
      .lean<Array<Pick<AlertDeliveryDoc, 'channel' | 'recipient'>>>();
    const byChannel = new Map<AlertChannel, Set<string>>();
    for (const d of told) {
      const set = byChannel.get(d.channel) ?? new Set<string>();
      set.add(d.recipient);
      byChannel.set(d.channel, set);
    }
    return [...byChannel].map(([channel, recipients]) => ({ channel, recipients: [...recipients] }));
  }

  /** A test alert through the chosen channels (their default recipients), bypassing routing and deduplication. */
  async sendTest(channels: AlertChannel[], actor: AlertActor): Promise<AlertDoc> {
    if (channels.length === 0) throw AppError.badRequest('Choose at least one channel.');
    // Every chosen channel, SMS included (a test must be able to check the pager).
    const routed = this.deps.routing.explicit(channels, 'critical');
    const notConfigured = channels.filter((c) => !routed.some((r) => r.channel === c));
    if (notConfigured.length)
      throw AppError.badRequest(`Not configured, or no recipients: ${notConfigured.join(', ')}.`, { notConfigured });
    const now = this.now();
    const id = randomUUID();
    const created = await this.deps.alerts.create({
      _id: id,
      fingerprint: fingerprintOf({ source: 'custom', kind: 'alert.test', subject: id }),
      // Its own key: a test never merges with another alert.
      openKey: `test:${id}`,
      severity: 'info',
      source: 'custom',
      kind: 'alert.test',
      subject: null,
      title: 'Test alert',
      message: `A test alert sent by ${actor.id} to check the alert channels (${channels.join(', ')}). No action needed.`,
      details: { requestedBy: actor.id, channels },
      status: 'open',
      occurrences: 1,
      firstSeenAt: now,
      lastSeenAt: now,
      lastNotifiedAt: now,
      notifiedChannels: [],
      changedAt: now,
      version: 0,
    });
    const alert = created.toObject() as AlertDoc;
    await this.enqueue(alert, 'test', '0', routed);
    await this.deps.audit.record({
      action: 'alert.test',
      outcome: 'succeeded',
      actorId: actor.id,
      actorRole: actor.role,
      resource: 'alert',
      resourceId: id,
      details: { channels },
    });
    this.changed('raised', id);
    return alert;
  }

  async deliveriesOf(alertId: string): Promise<AlertDeliveryDoc[]> {
    return this.deps.deliveries.find({ alertId }).sort({ createdAt: 1, _id: 1 }).lean<AlertDeliveryDoc[]>();
  }

  async get(id: string): Promise<AlertDoc | null> {
    return this.deps.alerts.findById(id).lean<AlertDoc>();
  }

  // ------------------------------------------------------------------ delivery outcomes (worker callbacks)

  /** Remembers that a channel carried the alert (its "resolved" message goes there too). */
  async deliveryDelivered(delivery: AlertDeliveryDoc): Promise<void> {
    await this.updateSystem(delivery.alertId, (a) =>
      a.notifiedChannels.includes(delivery.channel)
        ? null
        : { notifiedChannels: [...a.notifiedChannels, delivery.channel], changedAt: this.now() },
    );
  }

  /** A message that used its last try: the alert shows it, a dashboard notice names the channel. */
  async deliveryFailed(delivery: AlertDeliveryDoc): Promise<void> {
    const target = delivery.channel === 'slack' ? `slack:${delivery.recipient}` : delivery.channel;
    const changed = await this.updateSystem(delivery.alertId, () => ({ changedAt: this.now() }));
    if (changed) this.changed('delivery-failed', delivery.alertId);
    // Not about the notice itself: a dead dashboard channel cannot be reported on the dashboard.
    const alert = await this.get(delivery.alertId);
    if (!alert || alert.kind === 'alert.channel-failing') return;
    await this.raiseRouted(
      {
        source: 'system',
        kind: 'alert.channel-failing',
        subject: target,
        severity: 'warning',
        title: `Alert channel ${target} is failing`,
        message: `A ${delivery.purpose} message of alert ${delivery.alertId} could not be delivered over ${target} after ${delivery.attempts} attempts: ${delivery.lastError ?? 'unknown error'}`,
        details: { alertId: delivery.alertId, channel: delivery.channel, attempts: delivery.attempts },
      },
      ['dashboard'],
    ).catch((err: unknown) =>
      this.deps.logger.error({ err: { message: (err as Error).message } }, 'channel-failing notice not raised'),
    );
  }

  // ------------------------------------------------------------------ sources

  /** Counts a 500 of this process; the threshold-th of a minute raises `http.error-rate` (later ones only count). */
  recordServerError(): void {
    const threshold = this.deps.errorRateThreshold;
    if (!threshold) return;
    const minute = Math.floor(this.now().getTime() / 60_000);
    if (minute !== this.errorMinute) {
      this.errorMinute = minute;
      this.errorsThisMinute = 0;
    }
    this.errorsThisMinute++;
    if (this.errorsThisMinute !== threshold) return;
    this.raiseInBackground({
      source: 'system',
      kind: 'http.error-rate',
      subject: 'http',
      severity: 'error',
      title: `${threshold} unexpected errors within a minute`,
      message: `This process answered ${threshold} requests with 500 Internal Server Error within one minute; see the error logs.`,
      details: { threshold, minute: new Date(minute * 60_000).toISOString() },
    });
  }

  /** For event sources that cannot wait or handle errors (listeners): logged, never thrown. */
  raiseInBackground(input: AlertInput): void {
    this.raise(input).catch((err: unknown) =>
      this.deps.logger.error({ err: { message: (err as Error).message }, kind: input.kind }, 'alert not raised'),
    );
  }

  resolveInBackground(key: AlertKey, note?: string): void {
    this.resolveByKey(key, note).catch((err: unknown) =>
      this.deps.logger.error({ err: { message: (err as Error).message }, kind: key.kind }, 'alert not resolved'),
    );
  }

  // ------------------------------------------------------------------ retention

  /** Deletes resolved alerts resolved more than `days` ago, with their deliveries and occurrences, in batches. */
  async purgeResolved(
    days: number,
    batchSize = 500,
  ): Promise<{ alerts: number; deliveries: number; occurrences: number }> {
    const cutoff = new Date(this.now().getTime() - days * 86_400_000);
    const removed = { alerts: 0, deliveries: 0, occurrences: 0 };
    for (;;) {
      const batch = await this.deps.alerts
        .find({ status: 'resolved', resolvedAt: { $lt: cutoff } })
        .select({ _id: 1 })
        .limit(batchSize)
        .lean<Array<{ _id: string }>>();
      if (batch.length === 0) break;
      const ids = batch.map((a) => a._id);
      // Children first: an interrupted run leaves alerts whose children are gone, never orphans.
      removed.deliveries += (await this.deps.deliveries.deleteMany({ alertId: { $in: ids } })).deletedCount;
      removed.occurrences += (await this.deps.occurrences.deleteMany({ alertId: { $in: ids } })).deletedCount;
      removed.alerts += (await this.deps.alerts.deleteMany({ _id: { $in: ids }, status: 'resolved' })).deletedCount;
      if (batch.length < batchSize) break;
    }
    this.deps.logger.info({ ...removed, olderThanDays: days }, 'resolved alerts purged');
    return removed;
  }

  // ------------------------------------------------------------------ internals

  private async load(id: string): Promise<AlertDoc> {
    const alert = await this.deps.alerts.findById(id).lean<AlertDoc>();
    if (!alert) throw AppError.notFound('No such alert.');
    return alert;
  }

  /** A system change of an alert through the VersionedWriter, retried on lost races; `change` null: nothing to do. */
  private async updateSystem(id: string, change: (a: AlertDoc) => Record<string, unknown> | null): Promise<boolean> {
    for (let round = 0; round < MAX_WRITE_ROUNDS; round++) {
      const current = await this.deps.alerts.findById(id).lean<AlertDoc>();
      if (!current) return false;
      const set = change(current);
      if (!set) return false;
      try {
        await this.deps.writer.update(this.deps.alerts, current, set, 'alert');
        return true;
      } catch (err) {
        if (!isStale(err)) throw err;
      }
    }
    return false;
  }

  /**
   * Puts one outbox entry per channel and recipient. Ids are deterministic (alert, purpose,
   * round, channel, recipient), so enqueueing the same round twice adds nothing. Dashboard
   * entries are delivered by being stored: the change is published by the caller.
   */
  private async enqueue(alert: AlertDoc, purpose: DeliveryPurpose, round: string, routed: RoutedChannel[]) {
    const now = this.now();
    const docs: Array<Partial<AlertDeliveryDoc>> = [];
    for (const { channel, recipients } of routed) {
      for (const recipient of await this.deps.recipients.resolve(channel, recipients)) {
        const stored = channel === 'dashboard';
        docs.push({
          _id: deliveryIdOf(alert._id, purpose, round, channel, recipient),
          alertId: alert._id,
          channel,
          recipient,
          purpose,
          status: stored ? 'delivered' : 'pending',
          attempts: stored ? 1 : 0,
          nextAttemptAt: stored ? null : now,
          deliveredAt: stored ? now : null,
        });
      }
    }
    if (docs.length === 0) return;
    await this.insertDeliveries(docs);
    if (docs.some((d) => d.channel === 'dashboard') && !alert.notifiedChannels.includes('dashboard'))
      await this.updateSystem(alert._id, (a) =>
        a.notifiedChannels.includes('dashboard')
          ? null
          : { notifiedChannels: [...a.notifiedChannels, 'dashboard'], changedAt: this.now() },
      );
  }

  private async insertDeliveries(docs: Array<Partial<AlertDeliveryDoc>>): Promise<void> {
    if (docs.length === 0) return;
    try {
      await this.deps.deliveries.insertMany(docs, { ordered: false });
    } catch (err) {
      // Entries that exist already (a retried enqueue, a second flush) are fine; anything else is not.
      const writeErrors = (err as { writeErrors?: Array<{ code?: number; err?: { code?: number } }> }).writeErrors;
      const onlyDuplicates = writeErrors?.every((e) => (e.code ?? e.err?.code) === 11000) ?? isDuplicateKey(err);
      if (!onlyDuplicates) throw err;
    }
  }

  private changed(type: AlertChange['type'], alertId: string): void {
    const publisher = this.deps.publisher;
    if (!publisher) return;
    const publishing = publisher
      .publish({ type, alertId })
      .catch((err: unknown) =>
        this.deps.logger.warn(
          { err: { message: (err as Error).message }, type, alertId },
          'alert change not published',
        ),
      )
      .finally(() => this.publishing.delete(publishing));
    this.publishing.add(publishing);
  }

  /** Waits for announcements in flight: a process that raises and exits must not drop them with its Redis connection. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.publishing]);
  }

  /** The raise path must not fail after the alert is stored: an audit failure is logged instead. */
  private async auditSafely(entry: Parameters<AuditTrail['record']>[0]): Promise<void> {
    try {
      await this.deps.audit.record(entry);
    } catch (err) {
      this.deps.logger.error({ err: { message: (err as Error).message }, action: entry.action }, 'alert not audited');
    }
  }
}

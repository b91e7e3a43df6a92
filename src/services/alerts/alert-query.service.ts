import type { QueryFilter } from 'mongoose';
import { AppError } from '../../lib/errors';
import {
  ALERT_CHANNELS,
  ALERT_STATUSES,
  DELIVERY_STATUSES,
  type AlertChannel,
  type AlertDeliveryModel,
  type AlertDoc,
  type AlertModel,
  type AlertStatus,
  type DeliveryStatus,
} from '../../models/alert.model';
import { ALERT_SEVERITIES, type AlertSeverity, type AlertSource } from './alert-raiser';
import { encodeCursor, parseCursor, pastPosition } from './alert-cursor';
import { alertView, deliveryView, type AlertDeliveryView, type AlertView } from './alert-view';

export interface AlertListQuery {
  status?: AlertStatus[];
  severity?: AlertSeverity[];
  source?: AlertSource[];
  /** Alerts active at some time in [from, to]: first seen at or before `to`, last seen at or after `from`. */
  from?: Date;
  to?: Date;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  limit: number;
}

export interface AlertPage {
  items: AlertView[];
  /** Absent on the last page. */
  nextCursor?: string;
}

export interface AlertStats {
  from: string;
  to: string;
  /** Alerts first seen in [from, to). */
  total: number;
  bySeverity: Record<AlertSeverity, number>;
  byStatus: Record<AlertStatus, number>;
  /** Deliveries created in [from, to), per channel and outcome. */
  deliveries: Record<AlertChannel, Record<DeliveryStatus, number>>;
  /** Over the alerts first seen in [from, to) that were acknowledged (resp. resolved); null when none was. */
  meanTimeToAcknowledgeMs: number | null;
  meanTimeToResolveMs: number | null;
  acknowledgedCount: number;
  resolvedCount: number;
}

export interface AlertQueryServiceDeps {
  alerts: AlertModel;
  deliveries: AlertDeliveryModel;
  now?: () => Date;
}

/** Longest period one stats request may cover. */
export const MAX_STATS_PERIOD_MS = 366 * 86_400_000;
const DEFAULT_STATS_PERIOD_MS = 7 * 86_400_000;

const zeroes = <K extends string>(keys: readonly K[]): Record<K, number> =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

/**
 * Reading alerts for the API: filtered lists with keyset pagination, one alert with its
 * deliveries, and period statistics. Only `$match`/`$group` aggregation and plain queries
 * (FerretDB has no `$lookup`/`$facet`), so the same code runs on MongoDB Atlas.
 */
export class AlertQueryService {
  private readonly now: () => Date;

  constructor(private readonly deps: AlertQueryServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Newest first by (firstSeenAt, _id): a page never repeats or skips an alert, whatever is raised meanwhile. */
  async list(q: AlertListQuery): Promise<AlertPage> {
    const and: Array<QueryFilter<AlertDoc>> = [];
    if (q.status?.length) and.push({ status: { $in: q.status } });
    if (q.severity?.length) and.push({ severity: { $in: q.severity } });
    if (q.source?.length) and.push({ source: { $in: q.source } });
    if (q.from && q.to && q.from > q.to)
      throw AppError.validation('`from` must not be after `to`.', [{ path: 'query.from', message: 'after to' }]);
    if (q.to) and.push({ firstSeenAt: { $lte: q.to } });
    if (q.from) and.push({ lastSeenAt: { $gte: q.from } });
    if (q.cursor) and.push(pastPosition('firstSeenAt', parseCursor(q.cursor, 'query.cursor'), 'desc'));
    const docs = await this.deps.alerts
      .find(and.length ? { $and: and } : {})
      .sort({ firstSeenAt: -1, _id: -1 })
      .limit(q.limit + 1)
      .lean<AlertDoc[]>()
      .exec();
    const items = docs.slice(0, q.limit);
    const last = items[items.length - 1];
    return {
      items: items.map(alertView),
      ...(docs.length > q.limit && last ? { nextCursor: encodeCursor({ at: last.firstSeenAt, id: last._id }) } : {}),
    };
  }

  async get(id: string): Promise<AlertView & { deliveries: AlertDeliveryView[] }> {
    const doc = await this.deps.alerts.findById(id).lean<AlertDoc>().exec();
    if (!doc) throw AppError.notFound('No alert with this id.');
    const deliveries = await this.deps.deliveries.find({ alertId: id }).sort({ createdAt: 1, _id: 1 }).lean().exec();
    return { ...alertView(doc), deliveries: deliveries.map(deliveryView) };
  }

  /** Statistics of [from, to); `to` defaults to now and `from` to seven days before `to`. */
  async stats(from?: Date, to?: Date): Promise<AlertStats> {
    const end = to ?? this.now();
    const start = from ?? new Date(end.getTime() - DEFAULT_STATS_PERIOD_MS);
    if (start >= end)
      throw AppError.validation('`from` must be before `to`.', [{ path: 'query.from', message: 'not before to' }]);
    if (end.getTime() - start.getTime() > MAX_STATS_PERIOD_MS)
      throw AppError.validation('The period may cover at most 366 days.', [{ path: 'query', message: 'too long' }]);
    const inPeriod = { firstSeenAt: { $gte: start, $lt: end } };

    const [severities, statuses, outcomes] = await Promise.all([
      this.countBy(this.deps.alerts, inPeriod, '$severity'),
      this.countBy(this.deps.alerts, inPeriod, '$status'),
      this.deps.deliveries
        .aggregate<{ _id: { channel: string; status: string }; n: number }>([
          { $match: { createdAt: { $gte: start, $lt: end } } },
          { $group: { _id: { channel: '$channel', status: '$status' }, n: { $sum: 1 } } },
        ])
        .exec(),
    ]);
    const bySeverity = zeroes(ALERT_SEVERITIES);
    for (const s of severities) if (s._id in bySeverity) bySeverity[s._id as AlertSeverity] = s.n;
    const byStatus = zeroes(ALERT_STATUSES);
    for (const s of statuses) if (s._id in byStatus) byStatus[s._id as AlertStatus] = s.n;
    const deliveries = Object.fromEntries(ALERT_CHANNELS.map((c) => [c, zeroes(DELIVERY_STATUSES)])) as Record<
      AlertChannel,
      Record<DeliveryStatus, number>
    >;
    for (const o of outcomes) {
      const row = deliveries[o._id.channel as AlertChannel];
      if (row && o._id.status in row) row[o._id.status as DeliveryStatus] = o.n;
    }

    // Durations need date arithmetic FerretDB's $group cannot do: stream only the three dates.
    let ackSum = 0;
    let ackCount = 0;
    let resSum = 0;
    let resCount = 0;
    const cursor = this.deps.alerts
      .find(
        { ...inPeriod, $or: [{ acknowledgedAt: { $ne: null } }, { resolvedAt: { $ne: null } }] },
        { firstSeenAt: 1, acknowledgedAt: 1, resolvedAt: 1 },
      )
      .lean<Pick<AlertDoc, 'firstSeenAt' | 'acknowledgedAt' | 'resolvedAt'>>()
      .cursor({ batchSize: 1000 });
    for await (const a of cursor) {
      const seen = new Date(a.firstSeenAt).getTime();
      if (a.acknowledgedAt) {
        ackSum += new Date(a.acknowledgedAt).getTime() - seen;
        ackCount++;
      }
      if (a.resolvedAt) {
        resSum += new Date(a.resolvedAt).getTime() - seen;
        resCount++;
      }
    }

    return {
      from: start.toISOString(),
      to: end.toISOString(),
      total: Object.values(bySeverity).reduce((a, b) => a + b, 0),
      bySeverity,
      byStatus,
      deliveries,
      meanTimeToAcknowledgeMs: ackCount ? Math.round(ackSum / ackCount) : null,
      meanTimeToResolveMs: resCount ? Math.round(resSum / resCount) : null,
      acknowledgedCount: ackCount,
      resolvedCount: resCount,
    };
  }

  private countBy(model: AlertModel, match: QueryFilter<AlertDoc>, field: string) {
    return model
      .aggregate<{ _id: string; n: number }>([{ $match: match }, { $group: { _id: field, n: { $sum: 1 } } }])
      .exec();
  }
}

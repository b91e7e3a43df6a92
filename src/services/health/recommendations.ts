import type { HealthThresholds } from '../../config';
import type { HealthSample } from './history';
import { keyOf, type Measurement } from './types';

/** Concrete advice derived from observations; shown to admins in /health and attached to alerts. */
export interface Recommendation {
  rule: string;
  /** The checks (`component:measurement`) it is about. */
  checks: string[];
  advice: string;
}

export interface RuleContext {
  latest: Map<string, Measurement>;
  /** Samples of the in-memory history, oldest first (the latest included). */
  recent: HealthSample[];
  thresholds: HealthThresholds;
  now: Date;
}

export interface RecommendationRule {
  name: string;
  evaluate(ctx: RuleContext): Recommendation[];
}

const num = (m: Measurement | undefined): number | undefined =>
  typeof m?.observedValue === 'number' ? m.observedValue : undefined;

const POOL_WAITING_FOR_MS = 5 * 60_000;

/** A rule that gives `advice` whenever the one check `check` is present and not passing. */
function whenNotPassing(name: string, check: string, advice: string): RecommendationRule {
  return {
    name,
    evaluate({ latest }) {
      const m = latest.get(check);
      return m && m.status !== 'pass' ? [{ rule: name, checks: [check], advice }] : [];
    },
  };
}

/** The rules, in the order they are shown. Each names the checks it is about. */
export const RECOMMENDATION_RULES: RecommendationRule[] = [
  {
    name: 'pool-waiting',
    evaluate({ recent, now }) {
      // Requests waited for a pooled connection in every sample of the last five minutes.
      const window = recent.filter((s) => now.getTime() - s.at.getTime() <= POOL_WAITING_FOR_MS);
      const spans = window.length > 0 && now.getTime() - window[0].at.getTime() >= POOL_WAITING_FOR_MS - 1_000;
      const always = window.every((s) => (s.values['mongodb:poolWaiting']?.value ?? 0) > 0);
      return spans && always
        ? [
            {
              rule: 'pool-waiting',
              checks: ['mongodb:poolWaiting'],
              advice:
                'Requests have waited for a MongoDB connection for 5 minutes: raise MONGODB_MAX_POOL_SIZE or look for slow queries.',
            },
          ]
        : [];
    },
  },
  {
    name: 'event-loop-cpu',
    evaluate({ latest, thresholds }) {
      const delay = latest.get('process:eventLoopDelay');
      if (!delay || delay.status === 'pass') return [];
      const cpu = num(latest.get('system:cpuLoad')) ?? 0;
      return cpu >= thresholds.cpuLoadPerCore.warn
        ? [
            {
              rule: 'event-loop-cpu',
              checks: ['process:eventLoopDelay', 'system:cpuLoad'],
              advice: 'Event-loop delay is high and the CPU is busy: scale out with more PM2 instances or hosts.',
            },
          ]
        : [
            {
              rule: 'event-loop-blocked',
              checks: ['process:eventLoopDelay'],
              advice:
                'Event-loop delay is high while the CPU is not: look for synchronous work on the request path (large JSON, sync crypto or fs, regex).',
            },
          ];
    },
  },
  {
    name: 'disk',
    evaluate({ latest, thresholds }) {
      const disk = num(latest.get('system:disk'));
      return disk !== undefined && disk >= thresholds.diskPercent.warn
        ? [
            {
              rule: 'disk',
              checks: ['system:disk'],
              advice: `Disk ${disk}% used where backups are written: prune old backups or move the backup directory to a larger volume.`,
            },
          ]
        : [];
    },
  },
  {
    name: 'missing-index',
    evaluate({ latest }) {
      const missing = (latest.get('mongodb:collections')?.details?.missingIndexes ?? []) as Array<{
        collection: string;
        name: string;
        key: Record<string, unknown>;
      }>;
      return missing.map((i) => ({
        rule: 'missing-index',
        checks: ['mongodb:collections'],
        advice: `Collection ${i.collection} lacks index ${i.name} ${JSON.stringify(i.key)}: run \`npm run db:sync-indexes\`.`,
      }));
    },
  },
  {
    name: 'db-latency',
    evaluate({ latest }) {
      const m = latest.get('mongodb:responseTime');
      return m && m.status !== 'pass' && m.observedValue !== undefined
        ? [
            {
              rule: 'db-latency',
              checks: ['mongodb:responseTime'],
              advice:
                'MongoDB answers slowly: check slow queries (profiler or Atlas Performance Advisor), the cluster tier and the network path.',
            },
          ]
        : [];
    },
  },
  {
    name: 'memory',
    evaluate({ latest }) {
      const out: Recommendation[] = [];
      if (latest.get('process:heap')?.status !== 'pass' && latest.has('process:heap'))
        out.push({
          rule: 'memory',
          checks: ['process:heap'],
          advice:
            'The V8 heap is close to its limit: take a heap snapshot to look for a leak, or raise --max-old-space-size.',
        });
      if (latest.get('system:memory')?.status !== 'pass' && latest.has('system:memory'))
        out.push({
          rule: 'memory',
          checks: ['system:memory'],
          advice: 'System memory is short: reduce PM2 instances on this host or give it more memory.',
        });
      return out;
    },
  },
  whenNotPassing(
    'backup-age',
    'backups:age',
    'No recent verified backup: check the backup job log and run a backup now.',
  ),
  whenNotPassing(
    'failed-logins',
    'security:failedLogins',
    'Many failed logins: review `auth.login` failures in the audit trail for guessing and block the sources at the edge.',
  ),
  {
    name: 'endpoint',
    evaluate({ latest }) {
      return [...latest.values()]
        .filter((m) => m.componentType === 'http' && m.status !== 'pass')
        .map((m) => ({
          rule: 'endpoint',
          checks: [keyOf(m)],
          advice: `${m.component.replace(/^endpoint\./, '')} is ${m.status === 'fail' ? 'failing' : 'slow'}: check that service and the network path to it.`,
        }));
    },
  },
];

export function recommend(ctx: RuleContext, rules: RecommendationRule[] = RECOMMENDATION_RULES): Recommendation[] {
  return rules.flatMap((r) => r.evaluate(ctx));
}

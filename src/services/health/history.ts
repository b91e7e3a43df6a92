import type { HealthStatus } from './types';

/** What history keeps of one sample: each check's numeric value (if any) and status. */
export interface HealthSample {
  at: Date;
  status: HealthStatus;
  values: Record<string, { value?: number; unit?: string; status: HealthStatus }>;
}

export interface HistoryBucket {
  start: string;
  samples: number;
  min: number | null;
  avg: number | null;
  p95: number | null;
  max: number | null;
  /** The worst status seen in the interval. */
  worst: HealthStatus;
}

export interface HistorySeries {
  check: string;
  unit?: string;
  buckets: HistoryBucket[];
}

const RANK: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 };

/** The last `maxAgeMs` of samples in memory, bounded in count as well as age. */
export class HealthRing {
  private readonly samples: HealthSample[] = [];

  constructor(
    private readonly maxAgeMs: number,
    private readonly maxLength: number,
  ) {}

  push(sample: HealthSample): void {
    this.samples.push(sample);
    const cutoff = sample.at.getTime() - this.maxAgeMs;
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop].at.getTime() < cutoff) drop++;
    drop = Math.max(drop, this.samples.length - this.maxLength);
    if (drop > 0) this.samples.splice(0, drop);
  }

  /** Oldest first. */
  since(at: Date): HealthSample[] {
    return this.samples.filter((s) => s.at.getTime() >= at.getTime());
  }

  oldest(): Date | undefined {
    return this.samples[0]?.at;
  }

  get size(): number {
    return this.samples.length;
  }
}

/**
 * min/avg/p95/max per interval of every check whose key is `component` or starts with
 * `component:`. p95 is the nearest-rank percentile of the interval's values.
 */
export function summarise(
  samples: HealthSample[],
  component: string,
  since: Date,
  intervalMs: number,
): HistorySeries[] {
  const series = new Map<
    string,
    { unit?: string; buckets: Map<number, { values: number[]; worst: HealthStatus; n: number }> }
  >();
  for (const s of samples) {
    if (s.at.getTime() < since.getTime()) continue;
    const slot = since.getTime() + Math.floor((s.at.getTime() - since.getTime()) / intervalMs) * intervalMs;
    for (const [key, v] of Object.entries(s.values)) {
      if (key !== component && !key.startsWith(component + ':')) continue;
      let entry = series.get(key);
      if (!entry) series.set(key, (entry = { unit: v.unit, buckets: new Map() }));
      let bucket = entry.buckets.get(slot);
      if (!bucket) entry.buckets.set(slot, (bucket = { values: [], worst: 'pass', n: 0 }));
      bucket.n++;
      if (typeof v.value === 'number') bucket.values.push(v.value);
      if (RANK[v.status] > RANK[bucket.worst]) bucket.worst = v.status;
    }
  }
  return [...series.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([check, { unit, buckets }]) => ({
      check,
      unit,
      buckets: [...buckets.entries()]
        .sort(([a], [b]) => a - b)
        .map(([start, b]) => {
          const sorted = [...b.values].sort((x, y) => x - y);
          const n = sorted.length;
          const round = (x: number): number => Math.round(x * 100) / 100;
          return {
            start: new Date(start).toISOString(),
            samples: b.n,
            min: n ? sorted[0] : null,
            avg: n ? round(sorted.reduce((a, x) => a + x, 0) / n) : null,
            p95: n ? sorted[Math.max(0, Math.ceil(0.95 * n) - 1)] : null,
            max: n ? sorted[n - 1] : null,
            worst: b.worst,
          };
        }),
    }));
}

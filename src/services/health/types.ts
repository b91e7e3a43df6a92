import type { Limits } from '../../config';

export type HealthStatus = 'pass' | 'warn' | 'fail';

/** One observation of a sample: `checks["<component>:<measurement>"]` in the IETF health format. */
export interface Measurement {
  component: string;
  measurement: string;
  componentType: 'datastore' | 'system' | 'component' | 'http';
  observedValue?: number | string;
  observedUnit?: string;
  status: HealthStatus;
  /** Why it is not pass (admins only). */
  output?: string;
  /** Internals (versions, hosts, pool numbers): admins only. */
  details?: Record<string, unknown>;
}

/** One check: runs under the sampler's timeout and reports one or more measurements. */
export interface HealthCheck {
  /** The component its measurements belong to (and the name a timeout is reported under). */
  readonly component: string;
  /** The measurement reported when the whole check throws or times out. */
  readonly primaryMeasurement: string;
  readonly componentType: Measurement['componentType'];
  /** How a check that throws counts: `fail` for the dependency itself, `warn` for checks that only read through it. */
  readonly onError: 'warn' | 'fail';
  /** True when the check bounds itself (its own timeout); the sampler then adds none. */
  readonly selfTimed?: boolean;
  run(timeoutMs: number): Promise<Measurement[]>;
  /** Releases what the check holds (e.g. the event-loop delay monitor). */
  close?(): void;
}

export const keyOf = (m: Pick<Measurement, 'component' | 'measurement'>): string => `${m.component}:${m.measurement}`;

/** A value at or above a limit reaches it. */
export function statusOf(value: number, limits: Limits): HealthStatus {
  return value >= limits.fail ? 'fail' : value >= limits.warn ? 'warn' : 'pass';
}

export function worst(statuses: Iterable<HealthStatus>): HealthStatus {
  let out: HealthStatus = 'pass';
  for (const s of statuses) {
    if (s === 'fail') return 'fail';
    if (s === 'warn') out = 'warn';
  }
  return out;
}

export const round2 = (n: number): number => Math.round(n * 100) / 100;

/** A datastore's ping latency as its `responseTime` measurement, graded against its limits. */
export function responseTime(component: string, ms: number, limits: Limits): Measurement {
  return {
    component,
    measurement: 'responseTime',
    componentType: 'datastore',
    observedValue: round2(ms),
    observedUnit: 'ms',
    status: statusOf(ms, limits),
  };
}
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

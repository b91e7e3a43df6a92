import { withTimeout } from '../../../lib/database';
import type { RedisClient } from '../../../lib/redis';
import type { Limits } from '../../../config';
import { responseTime, round2, statusOf, type HealthCheck, type Measurement } from '../types';

/** Redis: PING latency, connection state, memory used (against maxmemory when one is set) and version. */
export class RedisCheck implements HealthCheck {
  readonly component = 'redis';
  readonly primaryMeasurement = 'responseTime';
  readonly componentType = 'datastore' as const;
  readonly onError = 'fail' as const;

  constructor(private readonly deps: { redis: RedisClient; latencyMs: Limits; memoryPercent: Limits }) {}

  async ping(timeoutMs: number): Promise<Measurement> {
    const started = performance.now();
    const pong = await withTimeout(this.deps.redis.ping(), timeoutMs, 'redis ping');
    if (pong !== 'PONG') throw new Error('unexpected reply to PING');
    return responseTime(this.component, performance.now() - started, this.deps.latencyMs);
  }

  async run(timeoutMs: number): Promise<Measurement[]> {
    const ping = await this.ping(timeoutMs);
    const info = parseInfo(await withTimeout(this.deps.redis.info(), timeoutMs, 'redis INFO'));
    const used = Number(info.used_memory ?? 0);
    const max = Number(info.maxmemory ?? 0);
    const percent = max > 0 ? (used / max) * 100 : undefined;
    return [
      ping,
      {
        component: this.component,
        measurement: 'connected',
        componentType: this.componentType,
        observedValue: this.deps.redis.status,
        status: this.deps.redis.status === 'ready' ? 'pass' : 'fail',
      },
      {
        component: this.component,
        measurement: 'memory',
        componentType: this.componentType,
        observedValue: used,
        observedUnit: 'bytes',
        status: percent === undefined ? 'pass' : statusOf(percent, this.deps.memoryPercent),
        details: {
          version: info.redis_version,
          maxmemoryBytes: max,
          percentOfMax: percent === undefined ? null : round2(percent),
          evictionPolicy: info.maxmemory_policy,
          connectedClients: Number(info.connected_clients ?? 0),
        },
      },
    ];
  }
}

/** `INFO` text: `key:value` lines under `# Section` headers. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

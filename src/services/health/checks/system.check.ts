import os from 'node:os';
import { access, statfs } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { Limits } from '../../../config';
import { withTimeout } from '../../../lib/database';
import { round2, statusOf, type HealthCheck, type Measurement } from '../types';

export interface SystemLimits {
  cpuLoadPerCore: Limits;
  memoryPercent: Limits;
  eventLoopDelayMs: Limits;
  diskPercent: Limits;
}

/**
 * The process and its host: CPU load per core, system memory, V8 heap against its limit,
 * event-loop delay p99 since the previous sample, and disk use where backups are written.
 */
export class SystemCheck implements HealthCheck {
  readonly component = 'system';
  readonly primaryMeasurement = 'cpuLoad';
  readonly componentType = 'system' as const;
  readonly onError = 'warn' as const;
  private readonly loop: IntervalHistogram;

  constructor(private readonly deps: { limits: SystemLimits; diskPath: string }) {
    this.loop = monitorEventLoopDelay({ resolution: 10 });
    this.loop.enable();
  }

  close(): void {
    this.loop.disable();
  }

  async run(timeoutMs: number): Promise<Measurement[]> {
    const { limits } = this.deps;
    const cores = Math.max(1, os.availableParallelism());
    const load = os.loadavg()[0] / cores;
    const total = os.totalmem();
    const memPercent = ((total - os.freemem()) / total) * 100;
    const heap = v8.getHeapStatistics();
    const heapPercent = (heap.used_heap_size / heap.heap_size_limit) * 100;
    // The histogram counts nanoseconds; reset so each sample covers the interval since the last.
    const loopP99 = this.loop.count > 0 ? this.loop.percentile(99) / 1e6 : 0;
    this.loop.reset();
    const fs = await withTimeout(
      existingAncestor(this.deps.diskPath).then((dir) => statfs(dir)),
      timeoutMs,
      'statfs',
    );
    const used = fs.blocks - fs.bfree;
    const diskPercent = used + fs.bavail > 0 ? (used / (used + fs.bavail)) * 100 : 0;
    const m = (
      measurement: string,
      value: number,
      unit: string,
      status: Measurement['status'],
      details?: Record<string, unknown>,
      component = this.component,
    ): Measurement => ({
      component,
      measurement,
      componentType: this.componentType,
      observedValue: round2(value),
      observedUnit: unit,
      status,
      details,
    });
    return [
      m('cpuLoad', load, 'load/core', statusOf(load, limits.cpuLoadPerCore), { cores, loadavg: os.loadavg() }),
      m('memory', memPercent, 'percent', statusOf(memPercent, limits.memoryPercent), {
        totalBytes: total,
        freeBytes: os.freemem(),
        processRssBytes: process.memoryUsage.rss(),
        hostname: os.hostname(),
        node: process.version,
      }),
      m('disk', diskPercent, 'percent', statusOf(diskPercent, limits.diskPercent), {
        path: this.deps.diskPath,
        freeBytes: fs.bavail * fs.bsize,
        totalBytes: fs.blocks * fs.bsize,
      }),
      m(
        'heap',
        heapPercent,
        'percent',
        statusOf(heapPercent, limits.memoryPercent),
        { usedBytes: heap.used_heap_size, limitBytes: heap.heap_size_limit },
        'process',
      ),
      m(
        'eventLoopDelay',
        loopP99,
        'ms',
        statusOf(loopP99, limits.eventLoopDelayMs),
        { percentile: 99, pid: process.pid },
        'process',
      ),
    ];
  }
}

/** The backup directory may not exist yet (no backup taken): measure the file system it will be created on. */
async function existingAncestor(dir: string): Promise<string> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      await access(current);
      return current;
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

/** One answer (or failure) seen by the steady load the fault scenarios run. */
export interface Sample {
  /** ms since the load started. */
  at: number;
  path: string;
  /** 0: no HTTP answer (connection refused/reset, client timeout). */
  status: number;
  durationMs: number;
  contentType: string;
  body: string;
  error?: string;
}

export interface Load {
  samples: Sample[];
  startedAt: number;
  stop(): Promise<void>;
}

/**
 * A steady request load: `clients` loops, each sending the next request as soon as the last
 * answered (closed loop, so a hang shows up as a long duration, not as a growing backlog).
 */
export function steadyLoad(
  baseUrl: string,
  requests: Array<{ path: string; headers?: Record<string, string> }>,
  clients: number,
  clientTimeoutMs: number,
): Load {
  const samples: Sample[] = [];
  const startedAt = Date.now();
  let running = true;
  const loop = async (n: number): Promise<void> => {
    let i = n;
    while (running) {
      const r = requests[i++ % requests.length];
      const t0 = Date.now();
      try {
        const res = await fetch(baseUrl + r.path, {
          headers: r.headers,
          signal: AbortSignal.timeout(clientTimeoutMs),
        });
        const body = await res.text();
        samples.push({
          at: t0 - startedAt,
          path: r.path,
          status: res.status,
          durationMs: Date.now() - t0,
          contentType: res.headers.get('content-type') ?? '',
          body,
        });
      } catch (err) {
        samples.push({
          at: t0 - startedAt,
          path: r.path,
          status: 0,
          durationMs: Date.now() - t0,
          contentType: '',
          body: '',
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        });
      }
      // Keep a 2-core machine shared by many test runs usable: a steady, not a flooding, load.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const loops = Array.from({ length: clients }, (_, n) => loop(n));
  return {
    samples,
    startedAt,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Counts by status, for messages and the report. */
export function statusCounts(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) out[s.status] = (out[s.status] ?? 0) + 1;
  return out;
}

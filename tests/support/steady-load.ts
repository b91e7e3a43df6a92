/**
 * A steady request load against a listening app (real HTTP, keep-alive): `workers` loops,
 * each sending its next request as soon as the last one answered. Every answer is kept
 * with its start and end time, so a test can say which requests failed and when.
 */

export interface LoadRequest {
  /** A label for reports, e.g. `me` or `login`. */
  kind: string;
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: unknown;
}

export interface LoadSample {
  kind: string;
  start: number;
  end: number;
  /** HTTP status; 0 when no answer came (connection error). */
  status: number;
  contentType: string;
}

export class SteadyLoad {
  readonly samples: LoadSample[] = [];
  private running = false;
  private loops: Array<Promise<void>> = [];
  private n = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly workers: number,
    /** The n-th request of the whole load (0-based). */
    private readonly next: (n: number) => LoadRequest,
  ) {}

  start(): void {
    this.running = true;
    for (let w = 0; w < this.workers; w++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const req = this.next(this.n++);
      const start = Date.now();
      let status: number;
      let contentType = '';
      try {
        const res = await fetch(this.baseUrl + req.path, {
          method: req.method ?? 'GET',
          headers: { ...(req.body === undefined ? {} : { 'content-type': 'application/json' }), ...req.headers },
          body: req.body === undefined ? undefined : JSON.stringify(req.body),
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer();
        status = res.status;
        contentType = res.headers.get('content-type') ?? '';
      } catch {
        status = 0;
      }
      this.samples.push({ kind: req.kind, start, end: Date.now(), status, contentType });
    }
  }

  /** Requests answered 5xx or not at all. */
  failures(): LoadSample[] {
    return this.samples.filter((s) => s.status >= 500 || s.status === 0);
  }

  /** Successes (2xx) that started after `t`. */
  successesAfter(t: number): LoadSample[] {
    return this.samples.filter((s) => s.start >= t && s.status >= 200 && s.status < 300);
  }
}

import type { ApiClient } from './api';

export interface StreamEvent {
  id: string;
  type: string;
  data: string;
}

export interface LiveStreamOptions {
  /** Path under the API base, e.g. `/alerts/stream`. */
  path: string;
  onEvent(event: StreamEvent): void;
  /**
   * `true` while events flow, `false` while reconnecting. `resumed`: this connection sent
   * `Last-Event-ID`, so the server replays what was missed; without it (no event seen yet)
   * the caller reloads what it shows.
   */
  onState(live: boolean, resumed: boolean): void;
}

/**
 * Server-Sent Events over fetch(). EventSource cannot send an Authorization header, and a
 * bearer token in the URL would end up in logs and history; fetch carries the header and
 * a ReadableStream gives the same event framing. Reconnects after a drop (or the server's
 * lifetime limit) with a fresh token and `Last-Event-ID`, so the server replays what was missed.
 */
export class LiveStream {
  private lastEventId: string | null = null;
  private controller: AbortController | null = null;
  private stopped = false;
  private retryMs = 3000;

  constructor(
    private readonly api: ApiClient,
    private readonly opts: LiveStreamOptions,
  ) {}

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.api.signedIn) {
      try {
        await this.connectOnce();
      } catch {
        // aborted or dropped: fall through to the retry below
      }
      this.opts.onState(false, false);
      if (this.stopped) return;
      await new Promise((r) => window.setTimeout(r, this.retryMs));
    }
  }

  private async connectOnce(): Promise<void> {
    this.controller = new AbortController();
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...this.api.authHeaders() };
    const resumed = this.lastEventId !== null;
    if (this.lastEventId !== null) headers['Last-Event-ID'] = this.lastEventId;
    const res = await fetch(`/api/v1${this.opts.path}`, {
      headers,
      signal: this.controller.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
    if (res.status === 401) {
      // The access token expired meanwhile: refresh, then the loop reconnects.
      if (!(await this.api.refresh())) this.stopped = true;
      return;
    }
    if (!res.ok || !res.body) return;
    this.opts.onState(true, resumed);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        this.dispatch(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  }

  /** One SSE block: `id`, `event`, `data` and `retry` fields; comments (heartbeats) are skipped. */
  private dispatch(block: string): void {
    let id: string | null = null;
    let type = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (name === 'id') id = value;
      else if (name === 'event') type = value;
      else if (name === 'data') data.push(value);
      else if (name === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (id !== null) this.lastEventId = id;
    if (data.length) this.opts.onEvent({ id: id ?? '', type, data: data.join('\n') });
  }
}

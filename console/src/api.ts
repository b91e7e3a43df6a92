/**
 * The console's only door to the API. Tokens live in this object's memory and nowhere
 * else (no localStorage, no sessionStorage, no cookie): a reload signs the operator out,
 * which is the price of a page that an injected script could otherwise rob for 14 days.
 */

/** An RFC 9457 problem answered by the API (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    readonly detail: string | undefined,
    readonly retryAfter?: number,
  ) {
    super(detail ?? title);
  }

  /** The last path segment of the problem type, e.g. `code-already-used`. */
  get code(): string {
    return this.type.split('/').pop() ?? this.type;
  }
}

export interface TokenPair {
  accessToken: string;
  refreshToken?: string;
  expiresIn?: number;
  enrollmentRequired?: boolean;
}

export interface SessionFacts {
  userId: string;
  role: string;
  mfa: boolean;
  enrollmentRequired: boolean;
}

type Listener = () => void;

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

export class ApiClient {
  private accessToken: string | null = null;
  private refreshToken: string | null = null;
  private refreshTimer: number | undefined;
  private refreshing: Promise<boolean> | null = null;
  private readonly signedOutListeners = new Set<Listener>();

  constructor(private readonly base = '/api/v1') {}

  get signedIn(): boolean {
    return this.accessToken !== null;
  }

  /** Called whenever the session ends (sign-out, refresh refused): the shell shows sign-in again. */
  onSignedOut(fn: Listener): void {
    this.signedOutListeners.add(fn);
  }

  /** Takes the tokens of a completed sign-in (or a new access token after enrollment). */
  adopt(pair: TokenPair): void {
    this.accessToken = pair.accessToken;
    if (pair.refreshToken) this.refreshToken = pair.refreshToken;
    window.clearTimeout(this.refreshTimer);
    if (pair.expiresIn && this.refreshToken) {
      const inMs = Math.max(5_000, pair.expiresIn * 1000 - REFRESH_MARGIN_MS);
      this.refreshTimer = window.setTimeout(() => void this.refresh(), inMs);
    }
  }

  /** Forgets the tokens locally (after the server ended the session, or it is gone). */
  forget(): void {
    const was = this.accessToken !== null;
    this.accessToken = null;
    this.refreshToken = null;
    window.clearTimeout(this.refreshTimer);
    if (was) for (const fn of this.signedOutListeners) fn();
  }

  /** The existing refresh flow: the refresh token goes in the body, a new pair comes back. */
  refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const token = this.refreshToken;
      if (!token) return false;
      try {
        const pair = await this.call<TokenPair>('POST', '/auth/refresh', { refreshToken: token }, false);
        this.adopt(pair);
        return true;
      } catch {
        this.forget();
        return false;
      }
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  /** One request; a 401 with a refresh token in hand refreshes once and retries. */
  async call<T>(method: string, path: string, body?: unknown, mayRefresh = true): Promise<T> {
    const res = await this.send(method, path, body);
    if (res.status === 401 && mayRefresh && this.refreshToken && (await this.refresh()))
      return this.parse<T>(await this.send(method, path, body));
    if (res.status === 401 && mayRefresh && this.accessToken) this.forget();
    return this.parse<T>(res);
  }

  /** Headers for a request made outside call() (the alert stream). */
  authHeaders(): Record<string, string> {
    return this.accessToken ? { Authorization: `Bearer ${this.accessToken}` } : {};
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...this.authHeaders() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (err) {
      throw new ApiError(0, 'network', 'The server could not be reached.', (err as Error).message);
    }
  }

  private async parse<T>(res: Response): Promise<T> {
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (a proxy's error page): described by the status alone
    }
    if (res.ok) return data as T;
    const p = (data ?? {}) as { type?: string; title?: string; detail?: string };
    const retry = Number(res.headers.get('retry-after'));
    throw new ApiError(
      res.status,
      p.type ?? `http-${res.status}`,
      p.title ?? res.statusText,
      p.detail,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
  }
}

/** What a failed call means to an operator, in one line. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.detail ? `${err.title}: ${err.detail}` : err.title;
  return err instanceof Error ? err.message : String(err);
}

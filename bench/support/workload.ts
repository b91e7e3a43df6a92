/**
 * The request mixes the benchmarks and the load/soak tests send, as pure functions of the
 * seeded fixture and a random source, so autocannon's `setupRequest` can draw one request at
 * a time in the load process (bench/support/load-worker.ts) and tests can check the mix.
 */

/** What the seed step (bench/support/seed.ts) leaves for the load process: credentials and ids. */
export interface Fixture {
  /** Access tokens of 2FA sessions of the department's staff (role `user`). */
  userTokens: string[];
  /** Access token of a 2FA session of the department's manager (reads all 10,000 invoices). */
  managerToken: string;
  /** Ids of seeded invoices (a sample), for record reads. */
  invoiceIds: string[];
  department: string;
  /** Accounts that sign in with a password during the mix (role `user`, no second factor). */
  loginEmails: string[];
  password: string;
  /** Invoices seeded in the department (the list total a manager sees before writes). */
  invoiceCount: number;
}

export interface DrawnRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export type MixKind =
  | 'invoice-list'
  | 'invoice-read'
  | 'own-invoices'
  | 'session'
  | 'me'
  | 'invoice-create'
  | 'health-live'
  | 'health'
  | 'login';

/**
 * Weights per 1,000 requests. Reads dominate, as in an ERP's working day; logins are rare
 * because each is a bcrypt cost-12 comparison (about 0.2 s of a core here).
 */
export const MIXED_WEIGHTS: Readonly<Record<MixKind, number>> = {
  'invoice-list': 200,
  'invoice-read': 250,
  'own-invoices': 100,
  session: 100,
  me: 100,
  'invoice-create': 80,
  'health-live': 150,
  health: 18,
  login: 2,
};

/** Picks a kind by weight; `r` is uniform in [0, 1). */
export function pickKind(weights: Readonly<Record<MixKind, number>>, r: number): MixKind {
  const entries = Object.entries(weights) as Array<[MixKind, number]>;
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = r * total;
  for (const [kind, w] of entries) {
    if (x < w) return kind;
    x -= w;
  }
  return entries[entries.length - 1]![0];
}

/** A client address in 10.0.0.0/8 (what the reverse proxy would forward). */
export const clientAddress = (rnd: () => number): string =>
  `10.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`;

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const pickOf = <T>(xs: readonly T[], rnd: () => number): T => xs[Math.floor(rnd() * xs.length)]!;

/** One request of the given kind, drawn with `rnd`. */
export function requestOf(kind: MixKind, f: Fixture, rnd: () => number): DrawnRequest {
  const managerPages = Math.max(1, Math.floor(f.invoiceCount / 20));
  switch (kind) {
    case 'invoice-list':
      return {
        method: 'GET',
        path: `/api/v1/invoices?page=${1 + Math.floor(rnd() * Math.min(managerPages, 50))}&limit=20`,
        headers: bearer(f.managerToken),
      };
    case 'invoice-read':
      return { method: 'GET', path: `/api/v1/invoices/${pickOf(f.invoiceIds, rnd)}`, headers: bearer(f.managerToken) };
    case 'own-invoices':
      return { method: 'GET', path: '/api/v1/invoices?limit=20', headers: bearer(pickOf(f.userTokens, rnd)) };
    case 'session':
      return { method: 'GET', path: '/api/v1/auth/session', headers: bearer(pickOf(f.userTokens, rnd)) };
    case 'me':
      return { method: 'GET', path: '/api/v1/auth/me', headers: bearer(pickOf(f.userTokens, rnd)) };
    case 'invoice-create': {
      const number = `B-${Date.now().toString(36)}-${Math.floor(rnd() * 2 ** 40).toString(36)}`;
      return {
        method: 'POST',
        path: '/api/v1/invoices',
        headers: { ...bearer(pickOf(f.userTokens, rnd)), 'content-type': 'application/json' },
        body: JSON.stringify({
          number,
          customer: 'Load Test Customer',
          amount: 1 + Math.floor(rnd() * 1_000_000),
          currency: 'EUR',
          department: f.department,
        }),
      };
    }
    case 'health-live':
      return { method: 'GET', path: '/health/live', headers: {} };
    case 'health':
      // What a load balancer polls. (/health itself answers 503 by design while no verified backup exists.)
      return { method: 'GET', path: '/health/ready', headers: {} };
    case 'login':
      return {
        method: 'POST',
        path: '/api/v1/auth/login',
        // Sign-ins come from many addresses behind the proxy (TRUST_PROXY=loopback believes it):
        // from one address, parallel attempts would be throttled as guessing by the login guard.
        headers: { 'content-type': 'application/json', 'x-forwarded-for': clientAddress(rnd) },
        body: JSON.stringify({ email: pickOf(f.loginEmails, rnd), password: f.password }),
      };
  }
}

/** A request of the mixed workload. */
export function mixedRequest(f: Fixture, rnd: () => number = Math.random): DrawnRequest {
  return requestOf(pickKind(MIXED_WEIGHTS, rnd()), f, rnd);
}

/** A 50-item page of the department's invoices, as its manager (RBAC scope + field policy), at a random page. */
export function invoicePageRequest(f: Fixture, rnd: () => number = Math.random): DrawnRequest {
  const pages = Math.max(1, Math.floor(f.invoiceCount / 50));
  return {
    method: 'GET',
    path: `/api/v1/invoices?page=${1 + Math.floor(rnd() * pages)}&limit=50`,
    headers: bearer(f.managerToken),
  };
}

/** A password sign-in of one of the login accounts, from a random client address. */
export function loginRequest(f: Fixture, rnd: () => number = Math.random): DrawnRequest {
  return requestOf('login', f, rnd);
}

export const WORKLOADS = { mixed: mixedRequest, 'invoice-page': invoicePageRequest, login: loginRequest } as const;
export type WorkloadName = keyof typeof WORKLOADS;

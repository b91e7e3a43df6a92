/**
 * The MDN HTTP Observatory scoring rules (github.com/mdn/mdn-http-observatory, algorithm version 6:
 * src/grader/charts.js SCORE_TABLE / GRADE_CHART / MINIMUM_SCORE_FOR_EXTRA_CREDIT, src/analyzer/tests/*.js,
 * src/scanner/index.js), applied offline to response headers the caller fetched itself.
 *
 * Only headers are graded: the HTML-dependent parts (meta http-equiv, subresource integrity of
 * <script> tags, the HSTS preload list) are outside what this checks; a response that is not
 * HTML scores the SRI test at 0 exactly as the Observatory does.
 */

/** Header names in lower case; a repeated header as an array (node's IncomingHttpHeaders shape). */
export type HeaderSet = Record<string, string | string[] | undefined>;

export interface ObservatoryInput {
  /** Final response headers of `GET https://host/` (after following redirects), from a verified TLS connection. */
  https: HeaderSet;
  /** The first response of `GET http://host/`; null when nothing listens on plain HTTP. */
  http: { status: number; headers: HeaderSet } | null;
  /** The host the scan is for, to tell an on-host redirect from an off-host one. */
  host: string;
}

export interface TestResult {
  test: string;
  result: string;
  modifier: number;
  pass: boolean;
}

export interface ObservatoryGrade {
  tests: TestResult[];
  score: number;
  grade: string;
}

/** charts.js SCORE_TABLE, the modifiers of the expectations these tests can produce. */
export const MODIFIERS: Readonly<Record<string, number>> = {
  'csp-implemented-with-no-unsafe-default-src-none': 10,
  'csp-implemented-with-no-unsafe': 5,
  'csp-implemented-with-unsafe-inline-in-style-src-only': 0,
  'csp-implemented-with-insecure-scheme-in-passive-content-only': -10,
  'csp-implemented-with-unsafe-eval': -10,
  'csp-implemented-with-unsafe-inline': -20,
  'csp-implemented-with-insecure-scheme': -20,
  'csp-header-invalid': -25,
  'csp-not-implemented': -25,
  'csp-not-implemented-but-reporting-enabled': -25,
  'cookies-secure-with-httponly-sessions-and-samesite': 5,
  'cookies-secure-with-httponly-sessions': 0,
  'cookies-not-found': 0,
  'cookies-without-secure-flag-but-protected-by-hsts': -5,
  'cookies-session-without-secure-flag-but-protected-by-hsts': -10,
  'cookies-without-secure-flag': -20,
  'cookies-samesite-flag-invalid': -20,
  'cookies-session-without-httponly-flag': -30,
  'cookies-session-without-secure-flag': -40,
  'cross-origin-resource-sharing-not-implemented': 0,
  'cross-origin-resource-sharing-implemented-with-public-access': 0,
  'cross-origin-resource-sharing-implemented-with-restricted-access': 0,
  'redirection-to-https': 0,
  'redirection-not-needed-no-http': 0,
  'redirection-off-host-from-http': -5,
  'redirection-not-to-https': -20,
  'redirection-missing': -20,
  'referrer-policy-private': 5,
  'referrer-policy-not-implemented': 0,
  'referrer-policy-unsafe': -5,
  'referrer-policy-header-invalid': -5,
  'hsts-implemented-max-age-at-least-six-months': 0,
  'hsts-implemented-max-age-less-than-six-months': -10,
  'hsts-not-implemented': -20,
  'hsts-header-invalid': -20,
  'sri-not-implemented-response-not-html': 0,
  'sri-not-implemented-but-no-scripts-loaded': 0,
  'x-content-type-options-nosniff': 0,
  'x-content-type-options-not-implemented': -5,
  'x-content-type-options-header-invalid': -5,
  'x-frame-options-implemented-via-csp': 5,
  'x-frame-options-sameorigin-or-deny': 5,
  'x-frame-options-allow-from-origin': 0,
  'x-frame-options-not-implemented': -20,
  'x-frame-options-header-invalid': -20,
  'corp-implemented-with-same-origin': 10,
  'corp-implemented-with-same-site': 10,
  'corp-implemented-with-cross-origin': 0,
  'corp-not-implemented': 0,
  'corp-header-invalid': -5,
  'coop-implemented-with-same-origin': 10,
  'coop-implemented-with-same-origin-allow-popups': 10,
  'coop-implemented-with-noopener-allow-popups': 10,
  'coop-implemented-with-unsafe-none': 0,
  'coop-not-implemented': 0,
  'coop-header-invalid': -5,
  'coep-implemented-with-require-corp': 10,
  'coep-implemented-with-credentialless': 10,
  'coep-implemented-with-unsafe-none': 0,
  'coep-not-implemented': 0,
  'coep-header-invalid': -5,
};

/** charts.js MINIMUM_SCORE_FOR_EXTRA_CREDIT: bonuses count only when the score without them is an A. */
export const MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90;
const SIX_MONTHS = 15_768_000;

/** charts.js GRADE_CHART, by multiples of 5 (100 and above is A+). */
const GRADE_CHART: ReadonlyArray<[number, string]> = [
  [100, 'A+'],
  [90, 'A'],
  [85, 'A-'],
  [80, 'B+'],
  [70, 'B'],
  [65, 'B-'],
  [60, 'C+'],
  [50, 'C'],
  [45, 'C-'],
  [40, 'D+'],
  [30, 'D'],
  [25, 'D-'],
  [0, 'F'],
];
export const GRADES = GRADE_CHART.map(([, g]) => g);

export function gradeForScore(score: number): string {
  const key = Math.min(Math.max(score, 0), 100);
  return GRADE_CHART.find(([min]) => key >= min)![1];
}

/** True when `grade` is at least `minimum` (A+ > A > A- > ... > F). */
export function gradeAtLeast(grade: string, minimum: string): boolean {
  return GRADES.indexOf(grade) <= GRADES.indexOf(minimum);
}

const all = (headers: HeaderSet, name: string): string[] => {
  const v = headers[name.toLowerCase()];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};
const first = (headers: HeaderSet, name: string): string | undefined => all(headers, name)[0];

const DANGEROUSLY_BROAD = new Set([
  'ftp:',
  'http:',
  'https:',
  '*',
  'http://*',
  'http://*.*',
  'https://*',
  'https://*.*',
]);
const BROAD_OR_INLINE = new Set([...DANGEROUSLY_BROAD, "'unsafe-inline'", 'data:']);
const PASSIVE_DIRECTIVES = new Set(['img-src', 'media-src']);
const NONCE_OR_HASH = /^'(nonce-|sha256-|sha384-|sha512-)/;

type Csp = Map<string, Set<string>>;

/**
 * cspParser.js: each policy is `;`-separated directives; a directive repeated within one policy
 * (other than report-uri/report-to) or a policy shorter than the shortest directive makes the
 * header invalid; an empty `*-src` means 'none'; sources compare in lower case. Several policies
 * all apply: a source counts only when every policy allows it (an intersection).
 */
function parseCsp(values: string[]): Csp | 'invalid' {
  const csp: Csp = new Map();
  const policies = values.flatMap((v) => v.split(',')).map((p) => p.replace(/[\r\n]/g, '').trim());
  for (const policy of policies) {
    if (policy.length < 'img-src'.length - 1) return 'invalid';
    const seen = new Set<string>();
    for (const raw of policy.split(';')) {
      const parts = raw.trim().split(/\s+/).filter(Boolean);
      if (parts.length === 0) continue;
      const directive = parts[0]!.toLowerCase();
      if (seen.has(directive) && directive !== 'report-uri' && directive !== 'report-to') return 'invalid';
      seen.add(directive);
      const listed = parts.slice(1).map((s) => s.toLowerCase());
      const sources = new Set(listed.length === 0 && directive.endsWith('-src') ? ["'none'"] : listed);
      const existing = csp.get(directive);
      csp.set(directive, existing ? new Set([...existing].filter((s) => sources.has(s))) : sources);
    }
  }
  return csp;
}

function cspTest(headers: HeaderSet): { result: string; frameAncestors: boolean } {
  const values = all(headers, 'content-security-policy');
  if (values.length === 0)
    return {
      result: first(headers, 'content-security-policy-report-only')
        ? 'csp-not-implemented-but-reporting-enabled'
        : 'csp-not-implemented',
      frameAncestors: false,
    };
  const csp = parseCsp(values);
  if (csp === 'invalid' || csp.size === 0) return { result: 'csp-header-invalid', frameAncestors: false };
  const fallback = (d: string) => new Set(csp.get(d) ?? csp.get('default-src') ?? ['*']);
  const script = fallback('script-src');
  const style = fallback('style-src');
  const object = fallback('object-src');
  for (const list of [script, style]) if ([...list].some((s) => NONCE_OR_HASH.test(s))) list.delete("'unsafe-inline'");
  let result: string | null = null;
  const set = (r: string) => (result ??= r);
  if (script.has("'strict-dynamic'")) {
    if ([...script].some((s) => NONCE_OR_HASH.test(s))) {
      for (const s of [...script])
        if (s === "'self'" || s === "'unsafe-inline'" || [...DANGEROUSLY_BROAD].some((b) => s.startsWith(b)))
          script.delete(s);
    } else set('csp-header-invalid');
  }
  const active = [...csp].filter(([d]) => !PASSIVE_DIRECTIVES.has(d) && d !== 'script-src').flatMap(([, s]) => [...s]);
  active.push(...script);
  const passive = [...PASSIVE_DIRECTIVES].flatMap((d) => [...(csp.get(d) ?? csp.get('default-src') ?? [])]);
  const insecure = (s: string) => s.startsWith('http:') || s.startsWith('ftp:');
  if ([...script].some((s) => BROAD_OR_INLINE.has(s)) || [...object].some((s) => DANGEROUSLY_BROAD.has(s)))
    set('csp-implemented-with-unsafe-inline');
  if (active.some(insecure)) set('csp-implemented-with-insecure-scheme');
  if (script.has("'unsafe-eval'") || style.has("'unsafe-eval'")) set('csp-implemented-with-unsafe-eval');
  if (passive.some(insecure)) set('csp-implemented-with-insecure-scheme-in-passive-content-only');
  if ([...style].some((s) => BROAD_OR_INLINE.has(s))) set('csp-implemented-with-unsafe-inline-in-style-src-only');
  const defaultSrc = csp.get('default-src');
  set(
    defaultSrc?.has("'none'") && defaultSrc.size === 1
      ? 'csp-implemented-with-no-unsafe-default-src-none'
      : 'csp-implemented-with-no-unsafe',
  );
  return { result: result!, frameAncestors: csp.has('frame-ancestors') };
}

function hstsTest(headers: HeaderSet): string {
  const header = first(headers, 'strict-transport-security');
  if (header === undefined) return 'hsts-not-implemented';
  if (header.includes(',')) return 'hsts-header-invalid';
  const maxAge = header
    .split(';')
    .map((p) => p.trim().toLowerCase())
    .find((p) => p.startsWith('max-age='));
  if (!maxAge) return 'hsts-header-invalid';
  const seconds = Number.parseInt(maxAge.slice(8), 10);
  if (Number.isNaN(seconds)) return 'hsts-header-invalid';
  return seconds < SIX_MONTHS
    ? 'hsts-implemented-max-age-less-than-six-months'
    : 'hsts-implemented-max-age-at-least-six-months';
}

/** cookies.js: later in this list is worse (its order, not the modifier, decides which result is kept). */
const COOKIE_SEVERITY = [
  'cookies-without-secure-flag-but-protected-by-hsts',
  'cookies-without-secure-flag',
  'cookies-session-without-secure-flag-but-protected-by-hsts',
  'cookies-samesite-flag-invalid',
  'cookies-anticsrf-without-samesite-flag',
  'cookies-session-without-httponly-flag',
  'cookies-session-without-secure-flag',
];

function cookiesTest(headers: HeaderSet, hsts: boolean): string {
  const cookies = all(headers, 'set-cookie');
  if (cookies.length === 0) return 'cookies-not-found';
  let worst: string | null = null;
  const note = (r: string) => {
    if (worst === null || COOKIE_SEVERITY.indexOf(r) > COOKIE_SEVERITY.indexOf(worst)) worst = r;
  };
  let missingSameSite = false;
  for (const cookie of cookies) {
    const [pair, ...attrs] = cookie.split(';').map((p) => p.trim());
    const name = (pair ?? '').split('=')[0]!.toLowerCase();
    const flags = new Map(
      attrs.map((a) => {
        const [k, ...v] = a.split('=');
        return [k!.trim().toLowerCase(), v.join('=').trim().toLowerCase()] as const;
      }),
    );
    const secure = flags.has('secure');
    const sameSite = flags.get('samesite');
    // The Observatory's notion of a session cookie: the name says login or session.
    const session = name.includes('login') || name.includes('sess');
    if (sameSite !== undefined && !['strict', 'lax', 'none'].includes(sameSite)) note('cookies-samesite-flag-invalid');
    if (!secure && sameSite === 'none') note('cookies-samesite-flag-invalid');
    if (!secure) note(hsts ? 'cookies-without-secure-flag-but-protected-by-hsts' : 'cookies-without-secure-flag');
    if (name.includes('csrf') && !sameSite) note('cookies-anticsrf-without-samesite-flag');
    if (session && !secure)
      note(hsts ? 'cookies-session-without-secure-flag-but-protected-by-hsts' : 'cookies-session-without-secure-flag');
    if (session && !flags.has('httponly')) note('cookies-session-without-httponly-flag');
    if (!sameSite) missingSameSite = true;
  }
  return (
    worst ??
    (missingSameSite ? 'cookies-secure-with-httponly-sessions' : 'cookies-secure-with-httponly-sessions-and-samesite')
  );
}

function redirectionTest(input: ObservatoryInput): string {
  if (input.http === null) return 'redirection-not-needed-no-http';
  const location = first(input.http.headers, 'location');
  if (input.http.status < 300 || input.http.status >= 400 || !location) return 'redirection-missing';
  let target: URL;
  try {
    target = new URL(location, `http://${input.host}/`);
  } catch {
    return 'redirection-not-to-https';
  }
  if (target.protocol !== 'https:') return 'redirection-not-to-https';
  return target.hostname === input.host.replace(/:\d+$/, '')
    ? 'redirection-to-https'
    : 'redirection-off-host-from-http';
}

function referrerTest(headers: HeaderSet): string {
  const values = all(headers, 'referrer-policy');
  if (values.length === 0) return 'referrer-policy-not-implemented';
  const good = ['no-referrer', 'same-origin', 'strict-origin', 'strict-origin-when-cross-origin'];
  const bad = ['origin', 'origin-when-cross-origin', 'unsafe-url', 'no-referrer-when-downgrade'];
  // The last recognised token wins, as in browsers.
  const policy = values
    .join(',')
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => good.includes(p) || bad.includes(p))
    .at(-1);
  if (policy === undefined) return 'referrer-policy-header-invalid';
  return good.includes(policy) ? 'referrer-policy-private' : 'referrer-policy-unsafe';
}

function keywordTest(headers: HeaderSet, name: string, prefix: string, values: Record<string, string>): string {
  const header = all(headers, name).join(', ').trim().toLowerCase();
  if (!header) return `${prefix}-not-implemented`;
  return values[header] ?? `${prefix}-header-invalid`;
}

function xfoTest(headers: HeaderSet, cspFrameAncestors: boolean): string {
  if (cspFrameAncestors) return 'x-frame-options-implemented-via-csp';
  const header = first(headers, 'x-frame-options')?.trim().toLowerCase();
  if (!header) return 'x-frame-options-not-implemented';
  if (header === 'deny' || header === 'sameorigin') return 'x-frame-options-sameorigin-or-deny';
  return header.startsWith('allow-from') ? 'x-frame-options-allow-from-origin' : 'x-frame-options-header-invalid';
}

function corsTest(headers: HeaderSet): string {
  const origin = first(headers, 'access-control-allow-origin')?.trim();
  if (!origin) return 'cross-origin-resource-sharing-not-implemented';
  return origin === '*'
    ? 'cross-origin-resource-sharing-implemented-with-public-access'
    : 'cross-origin-resource-sharing-implemented-with-restricted-access';
}

/** Every test's result and modifier, the score (bonuses only from an A without them) and the grade. */
export function gradeHeaders(input: ObservatoryInput): ObservatoryGrade {
  const h = input.https;
  const csp = cspTest(h);
  const hsts = hstsTest(h);
  const html = /html/i.test(first(h, 'content-type') ?? '');
  const results: Array<[string, string]> = [
    ['content-security-policy', csp.result],
    ['cookies', cookiesTest(h, hsts === 'hsts-implemented-max-age-at-least-six-months')],
    [
      'cross-origin-embedder-policy',
      keywordTest(h, 'cross-origin-embedder-policy', 'coep', {
        'require-corp': 'coep-implemented-with-require-corp',
        credentialless: 'coep-implemented-with-credentialless',
        'unsafe-none': 'coep-implemented-with-unsafe-none',
      }),
    ],
    [
      'cross-origin-opener-policy',
      keywordTest(h, 'cross-origin-opener-policy', 'coop', {
        'same-origin': 'coop-implemented-with-same-origin',
        'same-origin-allow-popups': 'coop-implemented-with-same-origin-allow-popups',
        'noopener-allow-popups': 'coop-implemented-with-noopener-allow-popups',
        'unsafe-none': 'coop-implemented-with-unsafe-none',
      }),
    ],
    ['cross-origin-resource-sharing', corsTest(h)],
    ['redirection', redirectionTest(input)],
    ['referrer-policy', referrerTest(h)],
    ['strict-transport-security', hsts],
    // Scripts inside an HTML page are not parsed here: an HTML answer counts as loading none.
    [
      'subresource-integrity',
      html ? 'sri-not-implemented-but-no-scripts-loaded' : 'sri-not-implemented-response-not-html',
    ],
    [
      'x-content-type-options',
      keywordTest(h, 'x-content-type-options', 'x-content-type-options', {
        nosniff: 'x-content-type-options-nosniff',
      }),
    ],
    ['x-frame-options', xfoTest(h, csp.frameAncestors)],
    [
      'cross-origin-resource-policy',
      keywordTest(h, 'cross-origin-resource-policy', 'corp', {
        'same-origin': 'corp-implemented-with-same-origin',
        'same-site': 'corp-implemented-with-same-site',
        'cross-origin': 'corp-implemented-with-cross-origin',
      }),
    ],
  ];
  const tests = results.map(([test, result]) => {
    const modifier = MODIFIERS[result] ?? 0;
    // A test passes when it costs nothing (the Observatory's own pass flags differ only for informational results).
    return { test, result, modifier, pass: modifier >= 0 };
  });
  const withBonus = 100 + tests.reduce((s, t) => s + t.modifier, 0);
  const penaltiesOnly = 100 + tests.reduce((s, t) => s + Math.min(t.modifier, 0), 0);
  const score = Math.max(penaltiesOnly >= MINIMUM_SCORE_FOR_EXTRA_CREDIT ? withBonus : penaltiesOnly, 0);
  return { tests, score, grade: gradeForScore(score) };
}

import {
  gradeAtLeast,
  gradeForScore,
  gradeHeaders,
  type HeaderSet,
  type ObservatoryInput,
} from '../../../scripts/lib/observatory-score';

/** What the app behind the repo nginx config answers with (docs/SECURITY_HEADERS.md). */
const STRONG: HeaderSet = {
  'content-type': 'application/json; charset=utf-8',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};
const REDIRECT = { status: 301, headers: { location: 'https://erp.example.com/' } };

const grade = (https: HeaderSet, http: ObservatoryInput['http'] = REDIRECT) =>
  gradeHeaders({ https, http, host: 'erp.example.com' });
const modifierOf = (g: ReturnType<typeof grade>, test: string) => g.tests.find((t) => t.test === test)!;
const without = (name: string): HeaderSet => Object.fromEntries(Object.entries(STRONG).filter(([k]) => k !== name));

describe('MDN HTTP Observatory scoring (scripts/lib/observatory-score.ts)', () => {
  it('when every header is strong, then the score is 100 plus the bonuses and the grade A+', () => {
    const g = grade(STRONG);
    // CSP default-src 'none' +10, frame-ancestors +5, Referrer-Policy private +5, CORP same-origin +10.
    expect(modifierOf(g, 'content-security-policy')).toMatchObject({
      result: 'csp-implemented-with-no-unsafe-default-src-none',
      modifier: 10,
    });
    expect(modifierOf(g, 'x-frame-options')).toMatchObject({
      result: 'x-frame-options-implemented-via-csp',
      modifier: 5,
    });
    expect(modifierOf(g, 'referrer-policy').modifier).toBe(5);
    expect(modifierOf(g, 'cross-origin-resource-policy').modifier).toBe(10);
    expect(modifierOf(g, 'redirection')).toMatchObject({ result: 'redirection-to-https', modifier: 0 });
    expect(g.tests.every((t) => t.pass)).toBe(true);
    expect(g.score).toBe(130);
    expect(g.grade).toBe('A+');
  });

  it('when HSTS is missing, then the -20 penalty drops the bonuses too (below 90 they do not count)', () => {
    const g = grade(without('strict-transport-security'));
    expect(modifierOf(g, 'strict-transport-security')).toMatchObject({
      result: 'hsts-not-implemented',
      modifier: -20,
      pass: false,
    });
    expect(g.score).toBe(80);
    expect(g.grade).toBe('B+');
  });

  it('when HSTS is shorter than six months, then -10 and the bonuses still count (90 without them)', () => {
    const g = grade({ ...STRONG, 'strict-transport-security': 'max-age=15767999' });
    expect(modifierOf(g, 'strict-transport-security')).toMatchObject({
      result: 'hsts-implemented-max-age-less-than-six-months',
      modifier: -10,
    });
    expect(g.score).toBe(120);
    expect(grade({ ...STRONG, 'strict-transport-security': 'max-age=15768000' }).score).toBe(130);
  });

  it("when the CSP allows 'unsafe-inline' scripts, then -20 replaces the +10", () => {
    const g = grade({
      ...STRONG,
      'content-security-policy': "default-src 'none'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    });
    expect(modifierOf(g, 'content-security-policy')).toMatchObject({
      result: 'csp-implemented-with-unsafe-inline',
      modifier: -20,
    });
    expect(g.score).toBe(80);
    expect(g.grade).toBe('B+');
    // A nonce neutralises 'unsafe-inline', as in browsers.
    const nonce = grade({
      ...STRONG,
      'content-security-policy': "default-src 'self'; script-src 'nonce-abc' 'unsafe-inline'; frame-ancestors 'none'",
    });
    expect(modifierOf(nonce, 'content-security-policy').result).toBe('csp-implemented-with-no-unsafe');
  });

  it("when the CSP allows 'unsafe-eval' or only inline styles, then -10 and 0", () => {
    const evalCsp = grade({ ...STRONG, 'content-security-policy': "default-src 'self' 'unsafe-eval'" });
    expect(modifierOf(evalCsp, 'content-security-policy')).toMatchObject({
      result: 'csp-implemented-with-unsafe-eval',
      modifier: -10,
    });
    const styles = grade({
      ...STRONG,
      'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'",
    });
    expect(modifierOf(styles, 'content-security-policy')).toMatchObject({
      result: 'csp-implemented-with-unsafe-inline-in-style-src-only',
      modifier: 0,
    });
  });

  it('when the CSP repeats a directive or is empty, then it is invalid (-25) like a missing one', () => {
    const repeated = grade({ ...STRONG, 'content-security-policy': "default-src 'none'; default-src 'self'" });
    expect(modifierOf(repeated, 'content-security-policy')).toMatchObject({
      result: 'csp-header-invalid',
      modifier: -25,
    });
    const missing = grade(without('content-security-policy'));
    expect(modifierOf(missing, 'content-security-policy')).toMatchObject({
      result: 'csp-not-implemented',
      modifier: -25,
    });
    // Without frame-ancestors, X-Frame-Options DENY still earns the +5.
    expect(modifierOf(missing, 'x-frame-options')).toMatchObject({
      result: 'x-frame-options-sameorigin-or-deny',
      modifier: 5,
    });
    // An empty source list means 'none'.
    const empty = grade({ ...STRONG, 'content-security-policy': 'default-src; frame-ancestors' });
    expect(modifierOf(empty, 'content-security-policy').result).toBe('csp-implemented-with-no-unsafe-default-src-none');
  });

  it('when nosniff is missing, then -5 and the score stays an A+ only through the bonuses', () => {
    const g = grade(without('x-content-type-options'));
    expect(modifierOf(g, 'x-content-type-options')).toMatchObject({
      result: 'x-content-type-options-not-implemented',
      modifier: -5,
      pass: false,
    });
    expect(g.score).toBe(125);
  });

  it('when there is no CSP, no frame protection and no redirect, then the penalties add up to a D', () => {
    const g = grade(
      {
        'strict-transport-security': 'max-age=31536000',
        'x-content-type-options': 'nosniff',
      },
      { status: 200, headers: {} },
    );
    expect(modifierOf(g, 'content-security-policy').modifier).toBe(-25);
    expect(modifierOf(g, 'x-frame-options').modifier).toBe(-20);
    expect(modifierOf(g, 'redirection')).toMatchObject({ result: 'redirection-missing', modifier: -20 });
    expect(g.score).toBe(35);
    expect(g.grade).toBe('D');
  });

  it('when cookies lack Secure or HttpOnly, then the documented cookie penalties apply', () => {
    const session = grade({ ...STRONG, 'set-cookie': ['sessionid=1; Path=/; Secure; SameSite=Strict'] });
    expect(modifierOf(session, 'cookies')).toMatchObject({
      result: 'cookies-session-without-httponly-flag',
      modifier: -30,
    });
    const good = grade({ ...STRONG, 'set-cookie': ['sessionid=1; Path=/; Secure; HttpOnly; SameSite=Lax'] });
    expect(modifierOf(good, 'cookies')).toMatchObject({
      result: 'cookies-secure-with-httponly-sessions-and-samesite',
      modifier: 5,
    });
    // Under HSTS a cookie without Secure costs -5; a session cookie without it -10 (the worse of the two is kept).
    const plainPref = grade({ ...STRONG, 'set-cookie': ['theme=dark; Path=/; SameSite=Lax'] });
    expect(modifierOf(plainPref, 'cookies').modifier).toBe(-5);
    const plainSession = grade({ ...STRONG, 'set-cookie': ['theme=dark; Secure', 'sess=1; HttpOnly; SameSite=Lax'] });
    expect(modifierOf(plainSession, 'cookies')).toMatchObject({
      result: 'cookies-session-without-secure-flag-but-protected-by-hsts',
      modifier: -10,
    });
    // Without HSTS a session cookie without Secure is the worst cookie result: -40.
    const noHsts = grade({ ...without('strict-transport-security'), 'set-cookie': ['sessionid=1; HttpOnly'] });
    expect(modifierOf(noHsts, 'cookies').modifier).toBe(-40);
  });

  it('when the redirect goes to another host or to plain HTTP, then -5 and -20', () => {
    const off = grade(STRONG, { status: 301, headers: { location: 'https://www.example.net/' } });
    expect(modifierOf(off, 'redirection')).toMatchObject({ result: 'redirection-off-host-from-http', modifier: -5 });
    const plain = grade(STRONG, { status: 302, headers: { location: 'http://erp.example.com/login' } });
    expect(modifierOf(plain, 'redirection').modifier).toBe(-20);
    expect(modifierOf(grade(STRONG, null), 'redirection').result).toBe('redirection-not-needed-no-http');
  });

  it('maps scores to the Observatory grade table and compares grades', () => {
    expect(
      [135, 100, 99, 90, 89, 85, 84, 80, 79, 70, 65, 60, 50, 45, 40, 30, 25, 24, 0, -10].map(gradeForScore),
    ).toEqual([
      'A+',
      'A+',
      'A',
      'A',
      'A-',
      'A-',
      'B+',
      'B+',
      'B',
      'B',
      'B-',
      'C+',
      'C',
      'C-',
      'D+',
      'D',
      'D-',
      'F',
      'F',
      'F',
    ]);
    expect(gradeAtLeast('A+', 'A+')).toBe(true);
    expect(gradeAtLeast('A', 'A+')).toBe(false);
    expect(gradeAtLeast('A', 'B')).toBe(true);
  });
});

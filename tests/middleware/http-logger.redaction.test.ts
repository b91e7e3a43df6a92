import request from 'supertest';
import { buildTestApp, LogCapture, type TestApp } from '../support/app';
import { accessLogger, createLogger, redactUrl } from '../../src/lib/logger';
import { LOGGED_REQUEST_HEADERS } from '../../src/middleware/http-logger';

describe('access log: credentials in query strings', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

  const accessLine = (path: string): Record<string, unknown> => {
    const line = t.logs
      .records()
      .find(
        (r) =>
          r.msg === 'request completed' &&
          typeof (r.req as { url?: string }).url === 'string' &&
          (r.req as { url: string }).url.startsWith(path),
      );
    if (!line) throw new Error(`no access-log line for ${path}`);
    return line;
  };

  it('when a token, API key, password or code is passed in the query string, then the access log has the parameter names but none of the values', async () => {
    const secrets = {
      access_token: 'eyJhbGciOiJIUzI1NiJ9.leaked-access.sig',
      token: 'tok-9f8e7d6c5b4a',
      api_key: 'erp_abcd_apikeyvalue1',
      APIKEY: 'erp_abcd_apikeyvalue2',
      key: 'raw-key-material-42',
      password: 'tangerine-harbour-73',
      code: '493817',
      refresh_token: 'c0ffee.2.refreshsecretvalue',
    };
    const query = Object.entries(secrets)
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&');
    const res = await request(t.app)
      .get(`/api/v1/auth/me?page=2&${query}&sort=name`)
      .set('Authorization', 'Bearer not.a-real.token')
      .set('Referer', `https://app.example/cb?access_token=${secrets.access_token}&state=s1`);
    expect(res.status).toBe(401);

    const line = accessLine('/api/v1/auth/me');
    const req = line.req as { url: string; headers: Record<string, string> };
    expect(req.url).toBe(
      '/api/v1/auth/me?page=2&access_token=[REDACTED]&token=[REDACTED]&api_key=[REDACTED]&APIKEY=[REDACTED]&key=[REDACTED]&password=[REDACTED]&code=[REDACTED]&refresh_token=[REDACTED]&sort=name',
    );
    expect(req.headers.referer).toBe('https://app.example/cb?access_token=[REDACTED]&state=s1');
    expect(req.headers).not.toHaveProperty('authorization');
    for (const value of Object.values(secrets)) {
      expect(t.logs.text).not.toContain(value);
      expect(t.logs.text).not.toContain(encodeURIComponent(value));
    }
  });

  it('when credentials come in any header, known or not, then the access log has only the allow-listed headers and none of the values', async () => {
    const secrets = {
      authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.header-leak.sig',
      cookie: 'sid=cookie-secret-5521',
      'x-api-key': 'erp_abcd_headerkeyvalue',
      'proxy-authorization': 'Basic cHJveHk6c2VjcmV0LTc3',
      // A header no redaction list names: an allow-list never logs it.
      'x-auth-session': 'sso-session-secret-9931',
    };
    const res = await request(t.app)
      .get('/api/v1/auth/session?probe=headers')
      .set(secrets)
      .set('User-Agent', 'redaction-test/1.0')
      .set('X-Forwarded-Proto', 'https');
    // A bearer token and an API key together are refused before either is checked; the line is written all the same.
    expect(res.status).toBe(400);

    const req = accessLine('/api/v1/auth/session?probe=headers').req as { headers: Record<string, string> };
    for (const name of Object.keys(req.headers)) expect(LOGGED_REQUEST_HEADERS).toContain(name);
    expect(req.headers['user-agent']).toBe('redaction-test/1.0');
    expect(req.headers['x-forwarded-proto']).toBe('https');
    for (const value of Object.values(secrets)) expect(t.logs.text).not.toContain(value);
    expect(t.logs.text).not.toContain('cookie-secret-5521');
  });

  it('when a parameter name is percent-encoded or repeated, then it is still recognised; other parameters are left as they are', () => {
    expect(redactUrl('/x?access%5Ftoken=a&access_token=b&access_token&q=a%20b#frag')).toBe(
      '/x?access%5Ftoken=[REDACTED]&access_token=[REDACTED]&access_token=[REDACTED]&q=a%20b#frag',
    );
    expect(redactUrl('/x')).toBe('/x');
    expect(redactUrl('/x?monkey=1&keys=2')).toBe('/x?monkey=1&keys=2');
  });

  it('when a credential header reached the access logger anyway (a header added to the allow-list by mistake), then it is still censored, and so is the URL', () => {
    const logs = new LogCapture();
    const log = accessLogger(createLogger({ level: 'info', destination: logs }));
    log.info(
      {
        req: {
          url: '/x?access_token=url-secret-1',
          headers: { authorization: 'Bearer header-secret-2', cookie: 'sid=header-secret-3', 'x-api-key': 'k-4' },
        },
      },
      'request completed',
    );
    log.flush();
    const req = logs.records()[0]!.req as { url: string; headers: Record<string, string> };
    expect(req.url).toBe('/x?access_token=[REDACTED]');
    expect(req.headers).toEqual({ authorization: '[REDACTED]', cookie: '[REDACTED]', 'x-api-key': '[REDACTED]' });
  });
});

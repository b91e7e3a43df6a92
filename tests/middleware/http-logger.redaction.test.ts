import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { redactUrl } from '../../src/lib/logger';

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
    expect(req.headers.authorization).toBe('[REDACTED]');
    for (const value of Object.values(secrets)) {
      expect(t.logs.text).not.toContain(value);
      expect(t.logs.text).not.toContain(encodeURIComponent(value));
    }
  });

  it('when a parameter name is percent-encoded or repeated, then it is still recognised; other parameters are left as they are', () => {
    expect(redactUrl('/x?access%5Ftoken=a&access_token=b&access_token&q=a%20b#frag')).toBe(
      '/x?access%5Ftoken=[REDACTED]&access_token=[REDACTED]&access_token=[REDACTED]&q=a%20b#frag',
    );
    expect(redactUrl('/x')).toBe('/x');
    expect(redactUrl('/x?monkey=1&keys=2')).toBe('/x?monkey=1&keys=2');
  });
});

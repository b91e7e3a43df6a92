import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { expectProblem } from '../support/problems';
import { createUser } from '../support/users';

/** Every header a client can set to claim another address; none of them may pick its rate-limit bucket. */
const forgedAddress = (i: number): Record<string, string> => ({
  'X-Forwarded-For': `10.${i}.0.1`,
  'X-Real-IP': `10.${i}.0.2`,
  Forwarded: `for=10.${i}.0.3;proto=https`,
  'X-Client-IP': `10.${i}.0.4`,
  'True-Client-IP': `10.${i}.0.5`,
  'CF-Connecting-IP': `10.${i}.0.6`,
  'X-Cluster-Client-IP': `10.${i}.0.7`,
});

describe('rate-limit evasion by header forgery', () => {
  describe('when the app is reached directly (TRUST_PROXY=false)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp(__filename, {
        TRUST_PROXY: 'false',
        RATE_LIMIT_GENERAL: '5/60',
        RATE_LIMIT_AUTH: '4/900',
        BCRYPT_COST: '10',
      });
      await createUser(t, 'victim@forgery.example', 'user', 'sales');
    });
    afterAll(() => t.close());

    it('when every request claims another address in every forwarding header, then they share one counter: exactly 5 pass', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await request(t.app).get('/api/v1/nowhere').set(forgedAddress(i));
        statuses.push(res.status);
        if (res.status === 429) expectProblem(res, 429);
      }
      expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429, 429]);
    });

    it('when password guesses rotate forged addresses, then the guesses are still counted and refused with 429', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await request(t.app)
          .post('/api/v1/auth/login')
          .set(forgedAddress(100 + i))
          .send({ email: 'victim@forgery.example', password: `wrong-guess-${i}` });
        statuses.push(res.status);
      }
      // The login guard allows 3 free failures per address and account, the auth tier 4.
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(4);
      expect(statuses.slice(-3)).toEqual([429, 429, 429]);
    });
  });

  describe('behind one proxy (TRUST_PROXY=1)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp(__filename, { TRUST_PROXY: '1', RATE_LIMIT_GENERAL: '5/60' });
    });
    afterAll(() => t.close());

    it('when the proxy-added address stays the same and the client varies every other forwarding header, then one counter: exactly 5 pass', async () => {
      // tests/middleware/rate-limit.test.ts covers entries forged in front of the proxy's own X-Forwarded-For entry.
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const headers = { ...forgedAddress(i), 'X-Forwarded-For': `10.${i}.0.1, 203.0.113.9` };
        statuses.push((await request(t.app).get('/api/v1/nowhere').set(headers)).status);
      }
      expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429, 429]);
    });
  });
});

describe('CORS with forged origins (beyond tests/middleware/cors.test.ts)', () => {
  const ALLOWED = 'https://erp.example.com';
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { CORS_ORIGINS: ALLOWED });
  });
  afterAll(() => t.close());

  const FORGED_ORIGINS: Array<[string, string]> = [
    ['a prefix trick', 'https://evilerp.example.com'],
    ['a subdomain of the allowed host', 'https://sub.erp.example.com'],
    ['a truncated domain', 'https://erp.example.co'],
    ['another port', 'https://erp.example.com:8443'],
    ['a trailing slash', 'https://erp.example.com/'],
    ['upper case', 'HTTPS://ERP.EXAMPLE.COM'],
    ['an encoded slash', 'https://erp.example.com%2F.evil.net'],
    ['a userinfo trick', 'https://erp.example.com@evil.net'],
    ['two origins in one header', `${ALLOWED} https://evil.net`],
    ['a comma-joined list', `${ALLOWED}, https://evil.net`],
    ['the null origin with spaces', ' null '],
    ['a file origin', 'file://'],
  ];

  it('when the origin is forged by prefix, subdomain, port, case, encoding, userinfo or list tricks, then neither a simple request nor a preflight gets any CORS grant', async () => {
    for (const [name, origin] of FORGED_ORIGINS) {
      const simple = await request(t.app).get('/api/v1/nowhere').set('Origin', origin).set('Cookie', 'sid=1');
      const preflight = await request(t.app)
        .options('/api/v1/auth/login')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'content-type, authorization');
      const granted = [simple, preflight].flatMap((res) =>
        ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods']
          .filter((h) => res.headers[h] !== undefined)
          .map((h) => `${name} (${origin}): ${h}`),
      );
      expect(granted).toEqual([]);
    }
  });

  it('when the allowed origin sends the same preflight, then it is granted (the refusals above are about the origin)', async () => {
    const preflight = await request(t.app)
      .options('/api/v1/auth/login')
      .set('Origin', ALLOWED)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type, authorization');
    expect(preflight.headers['access-control-allow-origin']).toBe(ALLOWED);
  });
});

import { buildTestApp, type TestApp } from '../support/app';
import { createUser, login, PASSWORD } from '../support/users';

/** The password guard over HTTP, with the rate limiter out of the way (its own tests cover it). */
describe('password guessing guard over HTTP', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_AUTH: '1000/900',
      RATE_LIMIT_GENERAL: '10000/60',
      RATE_LIMIT_IPV6_SUBNET: '56',
    });
  });
  afterAll(() => t.close());

  it('when 20 wrong passwords for one account arrive at once from one address, then exactly 3 get 401 and the other 17 wait (429 with Retry-After)', async () => {
    await createUser(t, 'burst@guessing.example');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login(t, 'burst@guessing.example', `wrong-guess-${i}-xxxx`, '203.0.113.40')),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(3).fill(401), ...Array(17).fill(429)]);
    for (const r of results.filter((x) => x.status === 429)) {
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // The user's own address is untouched.
    expect((await login(t, 'burst@guessing.example', PASSWORD, '198.51.100.41')).status).toBe(200);
  });

  it('when wrong passwords come from rotating IPv6 addresses within one /56, then they count as one address; another /56 is untouched', async () => {
    await createUser(t, 'rotate@guessing.example');
    const within = ['2001:db8:7:100::1', '2001:db8:7:1a2::9', '2001:db8:7:1ff:1234::2', '2001:db8:7:13c::77'];
    const statuses: number[] = [];
    for (const [i, ip] of within.entries())
      statuses.push((await login(t, 'rotate@guessing.example', `rotating-guess-${i}-xx`, ip)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect((await login(t, 'rotate@guessing.example', PASSWORD, '2001:db8:7:200::1')).status).toBe(200);
  });
});

import { loadConfig } from '../../src/config';
import { configProblems } from '../support/config';

describe('rate-limit tier configuration', () => {
  it('when a tier has a zero window or a zero limit, then config refuses it at startup naming the variable', () => {
    for (const [name, value] of [
      ['RATE_LIMIT_AUTH', '5/0'],
      ['RATE_LIMIT_GENERAL', '0/60'],
      ['RATE_LIMIT_PAYMENT', '0/0'],
      ['RATE_LIMIT_API_KEY', '00/3600'],
    ] as const) {
      const problems = configProblems({ NODE_ENV: 'development', [name]: value });
      expect(problems.length).toBeGreaterThan(0);
      for (const p of problems) expect(p).toMatch(new RegExp(`^${name}: .*at least 1`));
    }
  });

  it('when a tier is well formed, then its limit and window in milliseconds are parsed', () => {
    const config = loadConfig({ NODE_ENV: 'development', RATE_LIMIT_AUTH: '1/1', RATE_LIMIT_GENERAL: '250/30' });
    expect(config.rateLimits.tiers.auth).toMatchObject({ limit: 1, windowMs: 1000 });
    expect(config.rateLimits.tiers.general).toMatchObject({ limit: 250, windowMs: 30_000 });
  });

  it('when a window exceeds one day or a limit one million, then it is refused (a typo, not a policy)', () => {
    expect(configProblems({ NODE_ENV: 'development', RATE_LIMIT_AUTH: '5/9000000' })).toEqual([
      expect.stringMatching(/^RATE_LIMIT_AUTH: .*86400/),
    ]);
    expect(configProblems({ NODE_ENV: 'development', RATE_LIMIT_GENERAL: '99999999/60' })).toEqual([
      expect.stringMatching(/^RATE_LIMIT_GENERAL: .*1000000/),
    ]);
  });
});

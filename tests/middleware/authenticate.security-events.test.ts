import { randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { bearer, createUser, login } from '../support/users';
import type { SecurityEvent } from '../../src/services/auth/security-events';

describe('refused credentials are security events (audited, throttled per address)', () => {
  let t: TestApp;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    t = await buildTestApp(
      __filename,
      { RATE_LIMIT_GENERAL: '10000/60', RATE_LIMIT_AUTH: '1000/900', TRUST_PROXY: '1', BCRYPT_COST: '10' },
      { onSecurityEvent: (e) => events.push(e) },
    );
  });
  afterAll(() => t.close());

  /** Validly shaped, signed with a key the server does not have. */
  const forged = (): string =>
    jwt.sign({ typ: 'access', sid: randomUUID(), role: 'admin', dept: null, mfa: true }, randomBytes(32), {
      algorithm: 'HS256',
      expiresIn: 600,
      issuer: t.config.auth.issuer,
      audience: t.config.auth.audience,
      subject: randomUUID(),
      jwtid: randomUUID(),
    });
  const deniedFrom = (ip: string) =>
    t.container.database.db().collection('audit_events').find({ action: 'auth.denied', ip }).toArray();

  it('when a forged token is presented, then exactly one auth.denied entry names the reason, address and path, never the token; the listener hears it', async () => {
    const ip = '198.51.100.20';
    const token = forged();
    const res = await request(t.app)
      .get('/api/v1/employees?page=1')
      .set('X-Forwarded-For', ip)
      .set(...bearer(token));
    expect(res.status).toBe(401);
    const entries = await deniedFrom(ip);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      outcome: 'denied',
      actorId: null,
      ip,
      details: { reason: 'invalid-token', credential: 'bearer', method: 'GET', path: '/api/v1/employees' },
    });
    expect(JSON.stringify(entries[0])).not.toContain(token.split('.')[2]);
    expect(events.filter((e) => e.ip === ip)).toEqual([
      expect.objectContaining({ type: 'auth.denied', reason: 'invalid-token', countInWindow: 1, audited: true }),
    ]);
  });

  it('when 200 forged requests come from one address, then the audit trail gets one entry for them, while the listener counts all 200', async () => {
    const ip = '198.51.100.21';
    const started = Date.now();
    for (let i = 0; i < 200; i++) {
      const res = await request(t.app)
        .get('/api/v1/auth/me')
        .set('X-Forwarded-For', ip)
        .set(...bearer(forged()));
      expect(res.status).toBe(401);
    }
    // One entry per started minute at most (the window is real Redis time).
    const windows = 1 + Math.floor((Date.now() - started) / 60_000);
    const entries = await deniedFrom(ip);
    expect(entries.length).toBeGreaterThanOrEqual(1);
    expect(entries.length).toBeLessThanOrEqual(windows);
    const heard = events.filter((e) => e.ip === ip);
    expect(heard).toHaveLength(200);
    expect(heard.filter((e) => e.audited)).toHaveLength(entries.length);
    expect(Math.max(...heard.map((e) => e.countInWindow))).toBeGreaterThanOrEqual(Math.ceil(200 / windows));
  }, 120_000);

  it('when a revoked token and an unknown API key are presented from one address, then each reason gets its own entry', async () => {
    const ip = '198.51.100.22';
    await createUser(t, 'sven@security-events.example');
    const token = (await login(t, 'sven@security-events.example', undefined, ip)).body.accessToken as string;
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/logout')
          .set('X-Forwarded-For', ip)
          .set(...bearer(token))
      ).status,
    ).toBe(204);
    for (let i = 0; i < 3; i++) {
      expect(
        (
          await request(t.app)
            .get('/api/v1/auth/me')
            .set('X-Forwarded-For', ip)
            .set(...bearer(token))
        ).status,
      ).toBe(401);
      expect(
        (
          await request(t.app)
            .get('/api/v1/invoices')
            .set('X-Forwarded-For', ip)
            .set('X-API-Key', `erp_abcdefgh_${randomBytes(24).toString('base64url')}`)
        ).status,
      ).toBe(401);
    }
    const entries = await deniedFrom(ip);
    expect(entries.map((e) => (e.details as { reason: string }).reason).sort()).toEqual([
      'invalid-api-key',
      'session-revoked',
    ]);
    expect(entries.find((e) => e.details.reason === 'invalid-api-key')).toMatchObject({
      details: { credential: 'api-key', path: '/api/v1/invoices' },
    });
  });
});

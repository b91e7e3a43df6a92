import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { buildAlertTestApp, type AlertTestApp } from '../support/alerts';
import { bearer, createUser, mfaSession } from '../support/users';
import { expectProblem } from '../support/problems';
import type { AlertInput } from '../../src/services/alerts/alert-raiser';
import type { AlertChannel, DeliveryStatus } from '../../src/models/alert.model';

const MIN = 60_000;

describe('GET /api/v1/alerts/stats on a known dataset', () => {
  let a: AlertTestApp;
  let admin: string;
  let start: Date;
  let end: Date;
  const actor = { id: 'operator-1', role: 'admin' };

  const alert = (subject: string, severity: AlertInput['severity'], source: AlertInput['source']): AlertInput => ({
    source,
    kind: 'stats.test',
    subject,
    severity,
    title: subject,
    message: 'stats dataset',
  });

  beforeAll(async () => {
    a = await buildAlertTestApp(__filename);
    const adminId = await createUser(a.t, 'admin@stats.example', 'admin', 'it');
    a.clock.freeze();
    // Before the period: counted nowhere.
    const before = await a.commands.raise(alert('before', 'critical', 'system'));
    a.clock.advance(60 * MIN);
    start = a.clock.now();

    // A: error, acknowledged after 2 min, resolved after 10 min.
    const alertA = await a.commands.raise(alert('a', 'error', 'health'));
    a.clock.advance(2 * MIN);
    await a.commands.acknowledge(alertA.id, actor);
    // B: critical, raised at +2 min, acknowledged after 4 min, resolved after 20 min (so at +22).
    const alertB = await a.commands.raise(alert('b', 'critical', 'backup'));
    a.clock.advance(4 * MIN);
    await a.commands.acknowledge(alertB.id, actor);
    a.clock.advance(4 * MIN);
    await a.commands.resolve(alertA.id, actor, 'fixed');
    a.clock.advance(12 * MIN);
    await a.commands.resolve(alertB.id, actor);
    // C: warning, stays open; D: info, resolved without acknowledgement after 5 min.
    const alertC = await a.commands.raise(alert('c', 'warning', 'security'));
    const alertD = await a.commands.raise(alert('d', 'info', 'custom'));
    a.clock.advance(5 * MIN);
    await a.commands.resolve(alertD.id, actor);
    a.clock.advance(MIN);
    end = a.clock.now();
    a.clock.advance(MIN);
    // After the period: counted nowhere.
    await a.commands.raise(alert('after', 'critical', 'system'));
    a.clock.thaw();

    // Deliveries, with creation times inside and outside the period (timestamps off: the model would stamp real time).
    const at = (ms: number) => new Date(start.getTime() + ms);
    const delivery = (alertId: string, channel: AlertChannel, status: DeliveryStatus, createdAt: Date) => ({
      _id: randomUUID(),
      alertId,
      channel,
      recipient: channel === 'dashboard' ? 'dashboard' : `${channel}-ops`,
      purpose: 'raised' as const,
      status,
      attempts: status === 'pending' ? 0 : 1,
      lastError: status === 'failed' ? 'HTTP 500' : null,
      nextAttemptAt: null,
      deliveredAt: status === 'delivered' ? createdAt : null,
      createdAt,
      updatedAt: createdAt,
    });
    await a.t.container.models.AlertDelivery.insertMany(
      [
        delivery(alertA.id, 'email', 'delivered', at(0)),
        delivery(alertA.id, 'slack', 'failed', at(0)),
        delivery(alertA.id, 'dashboard', 'delivered', at(0)),
        delivery(alertB.id, 'email', 'delivered', at(2 * MIN)),
        delivery(alertB.id, 'sms', 'delivered', at(2 * MIN)),
        delivery(alertB.id, 'sms', 'pending', at(2 * MIN)),
        delivery(alertC.id, 'slack', 'delivered', at(22 * MIN)),
        delivery(before.id, 'email', 'delivered', new Date(start.getTime() - 30 * MIN)),
      ],
      { timestamps: false },
    );
    admin = await mfaSession(a.t, adminId);
  });
  afterAll(() => a.close());

  const stats = (q: string) =>
    request(a.app)
      .get(`/api/v1/alerts/stats${q}`)
      .set(...bearer(admin));

  it('when asked for the period, then counts by severity, status, channel and outcome, and MTTA/MTTR, match the dataset', async () => {
    const res = await stats(`?from=${start.toISOString()}&to=${end.toISOString()}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      from: start.toISOString(),
      to: end.toISOString(),
      total: 4,
      bySeverity: { info: 1, warning: 1, error: 1, critical: 1 },
      byStatus: { open: 1, acknowledged: 0, resolved: 3 },
      deliveries: {
        email: { pending: 0, delivered: 2, failed: 0 },
        sms: { pending: 1, delivered: 1, failed: 0 },
        slack: { pending: 0, delivered: 1, failed: 1 },
        dashboard: { pending: 0, delivered: 1, failed: 0 },
      },
      // Acknowledged: A after 2 min, B after 4 min. Resolved: A after 10, B after 20, D after 5.
      meanTimeToAcknowledgeMs: 3 * MIN,
      meanTimeToResolveMs: ((10 + 20 + 5) / 3) * MIN,
      acknowledgedCount: 2,
      resolvedCount: 3,
    });
  });

  it('when the period holds no alert, then zero counts and null means', async () => {
    const from = new Date(start.getTime() - 50 * MIN);
    const res = await stats(`?from=${from.toISOString()}&to=${new Date(from.getTime() + MIN).toISOString()}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      total: 0,
      bySeverity: { info: 0, warning: 0, error: 0, critical: 0 },
      meanTimeToAcknowledgeMs: null,
      meanTimeToResolveMs: null,
    });
  });

  it('when no period is given, then the last seven days up to the injected clock', async () => {
    const res = await stats('');
    expect(res.status).toBe(200);
    const to = Date.parse(res.body.to as string);
    expect(Math.abs(to - a.clock.now().getTime())).toBeLessThan(5_000);
    expect(to - Date.parse(res.body.from as string)).toBe(7 * 86_400_000);
    expect(res.body.total).toBe(6);
  });

  it('when the period is inverted, empty, too long or malformed, then 400 problem+json', async () => {
    for (const q of [
      '?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z',
      '?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z',
      '?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z',
      '?from=soon',
      '?groupBy=severity',
    ])
      expectProblem(await stats(q), 400, /validation-failed$/);
  });
});

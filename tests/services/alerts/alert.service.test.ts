import { buildAlertRig, type AlertRig } from '../../support/alert-rig';
import { auditCount } from '../../support/audit';
import type { TestApp } from '../../support/app';
import type { AlertInput } from '../../../src/services/alerts/alert-raiser';
import { AppError } from '../../../src/lib/errors';

const SECOND = 1000;
const admin = { id: 'admin-1', role: 'admin' };

/** Deduplication, reminders, acknowledge/resolve, test alerts and retention, on the real store and peers. */
describe('AlertService', () => {
  let rig: AlertRig;
  let n = 0;
  /** A warning (Slack + dashboard) with its own fingerprint per call of the test. */
  const warning = (subject: string): AlertInput => ({
    source: 'health',
    kind: 'disk.full',
    subject,
    severity: 'warning',
    title: `Disk almost full on ${subject}`,
    message: 'Less than 5% free.',
  });
  const asTestApp = (): TestApp => ({ container: rig.c }) as unknown as TestApp;
  const slackTitles = (): string[] =>
    rig.slack.requests.map(
      (r) =>
        ((r.body.attachments as Array<{ blocks: Array<{ text?: { text: string } }> }>)[0].blocks[0].text?.text ??
          '') as string,
    );

  beforeAll(async () => {
    rig = await buildAlertRig(__filename, {
      ALERT_DEDUP_WINDOW_SECONDS: '30',
      ALERT_REPEAT_INTERVAL_SECONDS: '60',
    });
  });
  afterAll(async () => {
    await rig.close();
  });
  beforeEach(async () => {
    n++;
    // Each test looks only at what it sends: flush what earlier tests left in the outbox.
    // Twice: a "resolved" message waits for the notice it ends.
    await rig.c.alertDelivery.runOnce();
    await rig.c.alertDelivery.runOnce();
    rig.slack.requests.length = 0;
  });

  it('counts repeats within the dedup window without notifying; a repeat after a quiet spell longer than the window notifies again', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const first = await alerts.raise(warning(`host-${n}`));
    rig.clock.advance(10 * SECOND);
    const second = await alerts.raise(warning(`host-${n}`));
    expect(second).toMatchObject({ id: first.id, created: false, occurrences: 2 });
    expect(await alerts.deliveriesOf(first.id)).toHaveLength(2); // slack + dashboard of the raise only

    rig.clock.advance(40 * SECOND); // silent for 40 s > 30 s window, 50 s < 60 s repeat interval
    const third = await alerts.raise(warning(`host-${n}`));
    expect(third).toMatchObject({ id: first.id, created: false, occurrences: 3 });
    const deliveries = await alerts.deliveriesOf(first.id);
    expect(
      deliveries
        .filter((d) => d.purpose === 'reminder')
        .map((d) => d.channel)
        .sort(),
    ).toEqual(['dashboard', 'slack']);
    // The reminder waits for the first notice to the same webhook: messages arrive in order.
    await rig.c.alertDelivery.runOnce();
    expect(slackTitles()).toEqual([`[WARNING] Disk almost full on host-${n}`]);
    await rig.c.alertDelivery.runOnce();
    expect(slackTitles()).toEqual([
      `[WARNING] Disk almost full on host-${n}`,
      `[WARNING] Still open (3x): Disk almost full on host-${n}`,
    ]);
    expect(rig.published.changes).toContainEqual({ type: 'repeated', alertId: first.id });
  });

  it('while an alert keeps occurring, sends a reminder only once the repeat interval has passed', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const first = await alerts.raise(warning(`busy-${n}`));
    for (let i = 0; i < 3; i++) {
      rig.clock.advance(20 * SECOND); // never quiet longer than the window
      await alerts.raise(warning(`busy-${n}`));
    }
    // 60 s after the first notice: exactly one reminder.
    let reminders = (await alerts.deliveriesOf(first.id)).filter((d) => d.purpose === 'reminder');
    expect(reminders.map((d) => d.channel).sort()).toEqual(['dashboard', 'slack']);
    rig.clock.advance(20 * SECOND);
    const lastRaiseAt = rig.clock.now().getTime();
    const fifth = await alerts.raise(warning(`busy-${n}`));
    expect(fifth.occurrences).toBe(5);
    reminders = (await alerts.deliveriesOf(first.id)).filter((d) => d.purpose === 'reminder');
    expect(reminders).toHaveLength(2); // still the one reminder (slack + dashboard)
    const stored = await alerts.get(first.id);
    expect(stored?.occurrences).toBe(5);
    expect(stored?.lastSeenAt.getTime()).toBeGreaterThanOrEqual(lastRaiseAt);
    expect(stored?.firstSeenAt.getTime()).toBeLessThan(lastRaiseAt - 70 * SECOND);
  });

  it('acknowledges once, resolves once, and sends "resolved" to the channels that carried the alert', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const raised = await alerts.raise(warning(`ack-${n}`));
    await rig.c.alertDelivery.runOnce();
    expect(slackTitles()).toEqual([`[WARNING] Disk almost full on ack-${n}`]);

    const acked = await alerts.acknowledge(raised.id, admin, 'looking into it');
    expect(acked).toMatchObject({
      status: 'acknowledged',
      acknowledgedBy: 'admin-1',
      acknowledgeComment: 'looking into it',
    });
    await expect(alerts.acknowledge(raised.id, { id: 'admin-2', role: 'admin' })).rejects.toMatchObject({
      status: 409,
      code: 'already-acknowledged',
    });
    // Acknowledged: further repeats count but never remind.
    rig.clock.advance(120 * SECOND);
    await alerts.raise(warning(`ack-${n}`));
    expect((await alerts.deliveriesOf(raised.id)).filter((d) => d.purpose === 'reminder')).toHaveLength(0);

    const resolved = await alerts.resolve(raised.id, admin, 'freed 20 GB');
    expect(resolved).toMatchObject({
      status: 'resolved',
      resolvedBy: 'admin-1',
      resolveComment: 'freed 20 GB',
      openKey: `resolved:${raised.id}`,
    });
    await expect(alerts.resolve(raised.id, admin)).rejects.toMatchObject({ status: 409, code: 'alert-resolved' });
    await expect(alerts.acknowledge(raised.id, admin)).rejects.toMatchObject({ status: 409, code: 'alert-resolved' });
    await expect(alerts.resolve('no-such-alert', admin)).rejects.toBeInstanceOf(AppError);
    await expect(alerts.acknowledge('no-such-alert', admin)).rejects.toMatchObject({ status: 404 });

    const resolvedDeliveries = (await alerts.deliveriesOf(raised.id)).filter((d) => d.purpose === 'resolved');
    expect(resolvedDeliveries.map((d) => d.channel).sort()).toEqual(['dashboard', 'slack']);
    await rig.c.alertDelivery.runOnce();
    expect(slackTitles()).toEqual([
      `[WARNING] Disk almost full on ack-${n}`,
      `[RESOLVED] Disk almost full on ack-${n}`,
    ]);
    const resolvedPost = rig.slack.requests[1].body.attachments as Array<{ color: string }>;
    expect(resolvedPost[0].color).toBe('#27ae60');

    // The fingerprint is free again: the next raise opens a new alert.
    const again = await alerts.raise(warning(`ack-${n}`));
    expect(again.created).toBe(true);
    expect(again.id).not.toBe(raised.id);

    const t = asTestApp();
    expect(await auditCount(t, { action: 'alert.raised', resourceId: raised.id })).toBe(1);
    expect(await auditCount(t, { action: 'alert.acknowledged', resourceId: raised.id, actorId: 'admin-1' })).toBe(1);
    expect(await auditCount(t, { action: 'alert.resolved', resourceId: raised.id, actorId: 'admin-1' })).toBe(1);
    expect(rig.published.changes).toEqual(
      expect.arrayContaining([
        { type: 'acknowledged', alertId: raised.id },
        { type: 'resolved', alertId: raised.id },
      ]),
    );
  });

  it('of concurrent raises after the repeat interval exactly one sends the reminder; of concurrent acknowledgements one wins', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const first = await alerts.raise(warning(`race-${n}`));
    rig.clock.advance(61 * SECOND);
    const results = await Promise.all(Array.from({ length: 20 }, () => alerts.raise(warning(`race-${n}`))));
    expect(results.every((r) => r.id === first.id && !r.created)).toBe(true);
    expect((await alerts.get(first.id))?.occurrences).toBe(21);
    const reminders = (await alerts.deliveriesOf(first.id)).filter((d) => d.purpose === 'reminder');
    expect(reminders.map((d) => d.channel).sort()).toEqual(['dashboard', 'slack']);

    const acks = await Promise.allSettled(
      ['a', 'b', 'c', 'd'].map((who) => alerts.acknowledge(first.id, { id: `admin-${who}`, role: 'admin' })),
    );
    expect(acks.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of acks.filter((r): r is PromiseRejectedResult => r.status === 'rejected'))
      expect(r.reason).toMatchObject({ status: 409 });
    const winner = (acks.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ acknowledgedBy: string }>)
      .value.acknowledgedBy;
    expect((await alerts.get(first.id))?.acknowledgedBy).toBe(winner);
    expect(await auditCount(asTestApp(), { action: 'alert.acknowledged', resourceId: first.id })).toBe(1);
  });

  it('resolveByKey resolves the open alert of a key as the system, and reports when none was open', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const key = { source: 'health' as const, kind: 'disk.full', subject: `key-${n}` };
    expect(await alerts.resolveByKey(key)).toBe(false);
    const raised = await alerts.raise(warning(`key-${n}`));
    expect(await alerts.resolveByKey(key, 'back to normal')).toBe(true);
    expect(await alerts.get(raised.id)).toMatchObject({
      status: 'resolved',
      resolvedBy: 'system',
      resolveComment: 'back to normal',
    });
    expect(await alerts.resolveByKey(key)).toBe(false);
  });

  it('sends a test alert through the chosen channels only, bypassing routing and deduplication', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const smsBefore = rig.twilioPeer.requests.length;
    const a = await alerts.sendTest(['slack', 'sms'], admin);
    const b = await alerts.sendTest(['slack', 'sms'], admin);
    expect(a._id).not.toBe(b._id);
    expect((await alerts.deliveriesOf(a._id)).map((d) => `${d.channel}:${d.purpose}`).sort()).toEqual([
      'slack:test',
      'sms:test',
    ]);
    await rig.c.alertDelivery.runOnce();
    expect(slackTitles()).toEqual(['[TEST] Test alert', '[TEST] Test alert']);
    expect(rig.twilioPeer.requests.length - smsBefore).toBe(2);
    expect(rig.twilioPeer.requests[rig.twilioPeer.requests.length - 1].form.get('Body')).toMatch(
      /^ERP INFO TEST: Test alert/,
    );
    expect(await auditCount(asTestApp(), { action: 'alert.test', resourceId: a._id, actorId: 'admin-1' })).toBe(1);
    await expect(alerts.sendTest([], admin)).rejects.toMatchObject({ status: 400 });
  });

  it('refuses a test through a channel that is not configured, storing nothing', async () => {
    const other = await buildAlertRig(__filename, { ALERT_SLACK_WEBHOOKS: '' });
    try {
      await expect(other.c.deps.operations.alerts.sendTest(['email', 'slack'], admin)).rejects.toMatchObject({
        status: 400,
        extensions: { notConfigured: ['slack'] },
      });
      expect(await other.c.models.Alert.countDocuments({})).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('retention deletes resolved alerts older than the limit with their deliveries, never open or recent ones', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const models = rig.c.models;
    const old = await alerts.raise(warning(`old-${n}`));
    await alerts.resolve(old.id, admin);
    const oldOpen = await alerts.raise(warning(`old-open-${n}`));
    rig.clock.advance(91 * 86_400 * SECOND);
    const recent = await alerts.raise(warning(`recent-${n}`));
    await alerts.resolve(recent.id, admin);
    expect(await models.AlertDelivery.countDocuments({ alertId: old.id })).toBeGreaterThan(0);

    const removed = await alerts.purgeResolved(90, 2);
    expect(removed.alerts).toBeGreaterThanOrEqual(1);
    expect(await alerts.get(old.id)).toBeNull();
    expect(await models.AlertDelivery.countDocuments({ alertId: old.id })).toBe(0);
    expect(await alerts.get(oldOpen.id)).toMatchObject({ status: 'open' });
    expect(await alerts.get(recent.id)).toMatchObject({ status: 'resolved' });
    expect(await models.AlertDelivery.countDocuments({ alertId: recent.id })).toBeGreaterThan(0);
    // Nothing more to remove.
    expect(await alerts.purgeResolved(90)).toEqual({ alerts: 0, deliveries: 0, occurrences: 0 });
    // The container schedules it (ALERT_RETENTION_CRON) and the run reports what it removed.
    expect(rig.logs.text).toContain('alert-retention (41 3 * * *)');
    expect(rig.logs.records().some((r) => r.msg === 'resolved alerts purged' && r.olderThanDays === 90)).toBe(true);
  });
});

import { backupFailedAlert, buildAlertRig, type AlertRig } from '../../support/alert-rig';
import { auditCount } from '../../support/audit';
import type { TestApp } from '../../support/app';
import { waitFor } from '../../support/wait';

const MINUTE = 60_000;

describe('alert delivery: retries across a restart', () => {
  let rig: AlertRig;
  beforeAll(async () => {
    rig = await buildAlertRig(__filename, { ALERT_DELIVERY_MAX_ATTEMPTS: '5' });
  });
  afterAll(async () => {
    await rig.close();
  });
  afterEach(() => rig.clock.thaw());

  it('delivers e-mail at once and Slack after three 500s, the last tries made by a new process on the same database', async () => {
    // Frozen: on a loaded machine more than the first backoff (0.5-1.5 s) of real time can pass
    // between two polls, and "not due yet" must be decided by the test's clock alone.
    rig.clock.freeze();
    rig.slack.failNext(3);
    const raised = await rig.c.deps.operations.alerts.raise(backupFailedAlert('nightly'));
    const slackOf = async () =>
      (await rig.c.deps.operations.alerts.deliveriesOf(raised.id)).find((d) => d.channel === 'slack')!;

    await rig.c.alertDelivery.runOnce();
    expect(rig.smtp.messages).toHaveLength(1); // not held back by Slack
    expect(await slackOf()).toMatchObject({ status: 'pending', attempts: 1, lastError: expect.stringMatching(/500/) });
    const firstRetryAt = (await slackOf()).nextAttemptAt!.getTime();
    // Backoff 1 s with jitter 0.5-1.5.
    expect(firstRetryAt - rig.clock.now().getTime()).toBeLessThanOrEqual(1500);

    // Not due yet: nothing is tried.
    await rig.c.alertDelivery.runOnce();
    expect((await slackOf()).attempts).toBe(1);

    rig.clock.advance(MINUTE);
    await rig.c.alertDelivery.runOnce();
    expect(await slackOf()).toMatchObject({ status: 'pending', attempts: 2 });

    // The process stops between retries; a new one (same database) carries on.
    const before = rig.c;
    await rig.restart();
    expect(rig.c).not.toBe(before);
    rig.clock.advance(MINUTE);
    await rig.c.alertDelivery.runOnce();
    expect(await slackOf()).toMatchObject({ status: 'pending', attempts: 3 });
    rig.clock.advance(MINUTE);
    await rig.c.alertDelivery.runOnce();
    expect(await slackOf()).toMatchObject({ status: 'delivered', attempts: 4, lastError: null });
    expect(rig.slack.requests).toHaveLength(1);
    expect(rig.smtp.messages).toHaveLength(1); // e-mail was never sent twice

    const t = { container: rig.c } as unknown as TestApp;
    expect(await auditCount(t, { action: 'alert.delivery.delivered', resourceId: raised.id })).toBe(2);
  });

  it('a webhook that never answers times out as configured and leaves e-mail unaffected', async () => {
    await rig.close();
    rig = await buildAlertRig(__filename, { ALERT_SLACK_TIMEOUT_MS: '2000' });
    rig.slack.hang(true);
    const raised = await rig.c.deps.operations.alerts.raise(backupFailedAlert('hung'));
    const started = Date.now();
    const run = rig.c.alertDelivery.runOnce();
    await waitFor(() => rig.smtp.messages.length === 1, 10_000, 'the alert e-mail');
    const mailAfterMs = Date.now() - started;
    let finished = false;
    void run.then(() => (finished = true));
    expect(finished).toBe(false); // Slack is still hanging while the mail is already out
    await run;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    expect(mailAfterMs).toBeLessThan(elapsed);
    const slack = (await rig.c.deps.operations.alerts.deliveriesOf(raised.id)).find((d) => d.channel === 'slack')!;
    expect(slack).toMatchObject({ status: 'pending', attempts: 1, lastError: 'timed out after 2000 ms' });
  });
});

describe('alert delivery: the worker started by the container', () => {
  it('polls on its own and delivers without anyone calling runOnce', async () => {
    const rig = await buildAlertRig(__filename, { ALERT_DELIVERY_POLL_MS: '100' });
    try {
      const raised = await rig.c.deps.operations.alerts.raise(backupFailedAlert('polled'));
      await waitFor(() => rig.smtp.messages.length === 1 && rig.slack.requests.length === 1, 20_000, 'polled delivery');
      await waitFor(
        async () => (await rig.c.deps.operations.alerts.deliveriesOf(raised.id)).every((d) => d.status === 'delivered'),
        10_000,
        'deliveries recorded',
      );
    } finally {
      await rig.close();
    }
  });
});

describe('alert delivery: giving up and circuit breakers', () => {
  let rig: AlertRig;
  beforeAll(async () => {
    rig = await buildAlertRig(__filename, {
      ALERT_DELIVERY_MAX_ATTEMPTS: '2',
      ALERT_BREAKER_THRESHOLD: '3',
      ALERT_BREAKER_COOLDOWN_SECONDS: '300',
    });
  });
  afterAll(async () => {
    await rig.close();
  });

  it('after the last try marks the delivery failed, audits it, raises a dashboard notice and publishes delivery-failed', async () => {
    rig.slack.failNext(2);
    const alerts = rig.c.deps.operations.alerts;
    const raised = await alerts.raise(backupFailedAlert('doomed'));
    await rig.c.alertDelivery.runOnce();
    rig.clock.advance(MINUTE);
    await rig.c.alertDelivery.runOnce();

    const slack = (await alerts.deliveriesOf(raised.id)).find((d) => d.channel === 'slack')!;
    expect(slack).toMatchObject({ status: 'failed', attempts: 2, nextAttemptAt: null });
    expect(slack.lastError).toMatch(/Slack answered 500/);
    expect((await alerts.deliveriesOf(raised.id)).find((d) => d.channel === 'email')).toMatchObject({
      status: 'delivered',
    });
    const t = { container: rig.c } as unknown as TestApp;
    expect(await auditCount(t, { action: 'alert.delivery.failed', resourceId: raised.id, outcome: 'failed' })).toBe(1);
    await waitFor(() => rig.published.changes.some((c) => c.type === 'delivery-failed'), 5_000, 'delivery-failed');
    expect(rig.published.changes).toContainEqual({ type: 'delivery-failed', alertId: raised.id });

    const notice = await rig.c.models.Alert.findOne({ kind: 'alert.channel-failing', subject: 'slack:ops' }).lean();
    expect(notice).toMatchObject({ source: 'system', severity: 'warning', status: 'open' });
    // On the dashboard only: a failing channel is not asked to report itself.
    expect((await alerts.deliveriesOf(notice!._id)).map((d) => d.channel)).toEqual(['dashboard']);
  });

  it('opens the breaker after consecutive failures: deliveries wait (no attempts used) until one trial after the cool-down', async () => {
    rig.slack.failNext(1_000);
    const alerts = rig.c.deps.operations.alerts;
    const ids: string[] = [];
    for (const s of ['b1', 'b2', 'b3', 'b4']) ids.push((await alerts.raise(backupFailedAlert(s))).id);
    const slackAttempts = async () =>
      (await rig.c.models.AlertDelivery.find({ alertId: { $in: ids }, channel: 'slack' }).lean()).map(
        (d) => d.attempts,
      );

    await rig.c.alertDelivery.runOnce();
    expect((await slackAttempts()).sort()).toEqual([1, 1, 1, 1]);
    expect(rig.c.alertDelivery.breakerOpen('slack', 'ops')).toBe(true);
    expect(rig.c.alertDelivery.breakerOpen('email')).toBe(false);

    rig.clock.advance(MINUTE); // retries due, breaker still open
    await rig.c.alertDelivery.runOnce();
    expect((await slackAttempts()).sort()).toEqual([1, 1, 1, 1]);

    rig.clock.advance(5 * MINUTE); // cool-down over: exactly one trial
    await rig.c.alertDelivery.runOnce();
    expect((await slackAttempts()).sort()).toEqual([1, 1, 1, 2]);
    expect(rig.c.alertDelivery.breakerOpen('slack', 'ops')).toBe(true);

    // The peer recovers; after the next cool-down the trial succeeds and the breaker closes.
    rig.slack.failNext(0);
    rig.clock.advance(6 * MINUTE);
    await rig.c.alertDelivery.runOnce();
    expect(rig.c.alertDelivery.breakerOpen('slack', 'ops')).toBe(false);
    await rig.c.alertDelivery.runOnce();
    const final = await rig.c.models.AlertDelivery.find({ alertId: { $in: ids }, channel: 'slack' }).lean();
    expect(final.filter((d) => d.status === 'delivered')).toHaveLength(3);
  });
});

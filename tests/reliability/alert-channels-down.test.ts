import { backupFailedAlert, buildAlertRig, type AlertRig } from '../support/alert-rig';
import { startSlackPeer } from '../support/slack-peer';
import { startSmtpPeer } from '../support/peers';
import { recordFigures } from './support/report';
import { switchablePort, withPort, type SwitchablePort } from './support/switchable-port';

const MINUTE = 60_000;

/**
 * SMTP relay and Slack both unreachable (connection refused, not an error answer): alerts
 * stay in the outbox, are retried with backoff, and are delivered once both are back.
 */
describe('alert channels down (SMTP and Slack refuse connections), then back', () => {
  let rig: AlertRig;
  let smtpPort: SwitchablePort;
  let slackPort: SwitchablePort;
  let smtp: Awaited<ReturnType<typeof startSmtpPeer>>;
  let slack: Awaited<ReturnType<typeof startSlackPeer>>;

  beforeAll(async () => {
    // The rig's own peers stay unused; these sit behind ports the test can close.
    smtp = await startSmtpPeer();
    slack = await startSlackPeer();
    smtpPort = await switchablePort(Number(new URL(smtp.url).port));
    slackPort = await switchablePort(Number(new URL(slack.url('ops')).port));
    rig = await buildAlertRig(__filename, {
      SMTP_URL: withPort(smtp.url, smtpPort.port),
      ALERT_SLACK_WEBHOOKS: `ops=${withPort(slack.url('ops'), slackPort.port)}`,
      ALERT_DELIVERY_MAX_ATTEMPTS: '20',
      LOG_LEVEL: 'warn',
    });
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
    await smtpPort?.close();
    await slackPort?.close();
    await smtp?.stop();
    await slack?.stop();
  });

  it('when SMTP and Slack are down, then alerts stay queued in the outbox (retried, not lost) and are delivered once both are back', async () => {
    await smtpPort.down();
    await slackPort.down();
    const alerts = rig.c.deps.operations.alerts;
    const raised = [
      await alerts.raise(backupFailedAlert('outage-1')),
      await alerts.raise(backupFailedAlert('outage-2')),
    ];
    const deliveries = async () =>
      (await Promise.all(raised.map((a) => alerts.deliveriesOf(a.id))))
        .flat()
        .filter((d) => d.channel === 'email' || d.channel === 'slack');

    // Several rounds while down: every attempt fails, nothing is given up or sent.
    for (let round = 0; round < 4; round++) {
      await rig.c.alertDelivery.runOnce();
      rig.clock.advance(MINUTE);
    }
    const whileDown = await deliveries();
    expect(whileDown).toHaveLength(4);
    for (const d of whileDown) expect(d).toMatchObject({ status: 'pending', lastError: expect.any(String) });
    expect(Math.max(...whileDown.map((d) => d.attempts))).toBeGreaterThan(1);
    expect(smtp.messages).toHaveLength(0);
    expect(slack.requests).toHaveLength(0);

    await smtpPort.up();
    await slackPort.up();
    // Back: within a few rounds (a circuit breaker may hold the first), all four are delivered once.
    for (let round = 0; round < 6 && (await deliveries()).some((d) => d.status !== 'delivered'); round++) {
      rig.clock.advance(MINUTE);
      await rig.c.alertDelivery.runOnce();
    }
    const after = await deliveries();
    expect(after.map((d) => d.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    expect(smtp.messages).toHaveLength(2);
    expect(slack.requests).toHaveLength(2);
    recordFigures('smtp-slack-down', {
      attemptsWhileDown: whileDown.map((d) => `${d.channel}:${d.attempts}`),
      attemptsTotal: after.map((d) => `${d.channel}:${d.attempts}`),
    });
  }, 120_000);
});

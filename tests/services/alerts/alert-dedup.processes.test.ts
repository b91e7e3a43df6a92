import { buildAlertRig, type AlertRig } from '../../support/alert-rig';
import { runTs, waitFor, type RunningProcess } from '../../support/process';
import type { RaisedAlert } from '../../../src/services/alerts/alert-raiser';

/**
 * ACCEPTANCE (issue 10): 100 identical alerts raised at once from two processes give one open
 * alert with count exactly 100 and exactly one notification per channel. FerretDB applies
 * `$inc` as read-then-write, so this fails if occurrences were counted that way.
 */
describe('alert deduplication across processes', () => {
  let rig: AlertRig;
  let child: RunningProcess | undefined;
  beforeAll(async () => {
    rig = await buildAlertRig(__filename);
  });
  afterAll(async () => {
    child?.child.kill();
    await rig.close();
  });

  it('100 identical alerts from two processes: one open alert, count 100, one message per channel', async () => {
    const subject = 'storm-1';
    child = runTs('tests/support/raise-alerts-process.ts', {
      ...rig.env,
      LOG_LEVEL: 'silent',
      ALERT_COUNT: '50',
      ALERT_SUBJECT: subject,
      // The child's own worker must not interfere with counting the messages here: it has no peers' clock.
      ALERT_DELIVERY_POLL_MS: '600000',
    });
    await waitFor(() => child!.stdout().includes('ready'), 60_000, 'the second process to start');

    const alerts = rig.c.deps.operations.alerts;
    child.child.stdin!.write('go\n');
    const local = await Promise.all(
      Array.from({ length: 50 }, () =>
        alerts.raise({
          source: 'system',
          kind: 'storm',
          subject,
          severity: 'error',
          title: 'Storm',
          message: 'The same alert from every worker at once.',
        }),
      ),
    );
    await waitFor(() => child!.stdout().includes('done '), 120_000, 'the second process to finish');
    expect(await child.exited).toBe(0);
    const remote = JSON.parse(/done (.*)\n/.exec(child.stdout())![1]) as Array<Pick<RaisedAlert, 'id' | 'created'>>;

    const all = [...local, ...remote];
    expect(new Set(all.map((r) => r.id)).size).toBe(1);
    expect(all.filter((r) => r.created)).toHaveLength(1);

    const open = await rig.c.models.Alert.find({ kind: 'storm', subject, status: { $ne: 'resolved' } }).lean();
    expect(open).toHaveLength(1);
    expect(open[0].occurrences).toBe(100);

    await rig.c.alertDelivery.runOnce();
    const deliveries = await alerts.deliveriesOf(open[0]._id);
    expect(deliveries.map((d) => d.channel).sort()).toEqual(['dashboard', 'email', 'slack']);
    expect(rig.smtp.messages).toHaveLength(1);
    expect(rig.slack.requests).toHaveLength(1);
  });
});

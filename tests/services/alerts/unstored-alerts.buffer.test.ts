import { createLogger } from '../../../src/lib/logger';
import { createRedis, waitForRedis, type RedisClient } from '../../../src/lib/redis';
import type { AlertDoc } from '../../../src/models/alert.model';
import type { UserModel } from '../../../src/models/user.model';
import { fingerprintOf } from '../../../src/services/alerts/alert.service';
import { RecipientResolver, type RoutedChannel } from '../../../src/services/alerts/routing';
import { SlackChannel } from '../../../src/services/alerts/slack.channel';
import { UnstoredAlerts } from '../../../src/services/alerts/unstored-alerts';
import { LogCapture, TestClock } from '../../support/app';
import { testNamespace, testRedisUrl } from '../../support/env';
import { startSlackPeer } from '../../support/slack-peer';

/** An alert as AlertService shapes it before the (failed) store. */
function alertDoc(id: string, subject: string, at: Date): AlertDoc {
  const fingerprint = fingerprintOf({ source: 'custom', kind: 'buffer.test', subject });
  return {
    _id: id,
    fingerprint,
    openKey: fingerprint,
    severity: 'warning',
    source: 'custom',
    kind: 'buffer.test',
    subject,
    title: `Buffer test ${subject}`,
    message: 'm',
    details: {},
    status: 'open',
    occurrences: 1,
    firstSeenAt: at,
    lastSeenAt: at,
    lastNotifiedAt: at,
    notifiedChannels: ['dashboard'],
    acknowledgedBy: null,
    acknowledgedAt: null,
    acknowledgeComment: null,
    resolvedBy: null,
    resolvedAt: null,
    resolveComment: null,
    changedAt: at,
    version: 0,
    createdAt: at,
    updatedAt: at,
  };
}

describe('UnstoredAlerts buffer', () => {
  let slack: Awaited<ReturnType<typeof startSlackPeer>>;
  let redis: RedisClient;
  const logs = new LogCapture();
  const clock = new TestClock();
  const prefix = testNamespace(__filename).redisPrefix;

  beforeAll(async () => {
    slack = await startSlackPeer();
    redis = createRedis(
      { url: testRedisUrl(), logger: createLogger({ level: 'error', destination: logs }) },
      {
        keyPrefix: prefix,
      },
    );
    expect(await waitForRedis(redis, 5_000)).toBe(true);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    redis.disconnect();
    await slack.stop();
  });

  it('when full, then the oldest alert is dropped with an error log, and every alert was still sent once', async () => {
    const unstored = new UnstoredAlerts({
      redis,
      adapters: [new SlackChannel([{ name: 'ops', url: slack.url('ops') }])],
      // Slack recipients are webhook names: no user lookup happens.
      recipients: new RecipientResolver({ users: {} as UserModel }),
      logger: createLogger({ level: 'debug', destination: logs }),
      consoleUrl: 'https://erp.example.com/console/alerts',
      timeoutsMs: { slack: 5_000 },
      dedupWindowMs: 60_000,
      capacity: 2,
      now: clock.now,
    });
    const routed: RoutedChannel[] = [
      { channel: 'slack', recipients: ['ops'] },
      { channel: 'dashboard', recipients: ['dashboard'] },
    ];
    for (const n of [1, 2, 3]) await unstored.raise(alertDoc(`id-${n}`, `s${n}`, clock.now()), routed);
    // A repeat only counts.
    await unstored.raise(alertDoc('id-4', 's3', clock.now()), routed);

    expect(unstored.entries().map((e) => [e.alert._id, e.alert.occurrences])).toEqual([
      ['id-2', 1],
      ['id-3', 2],
    ]);
    const dropped = logs
      .records()
      .filter((r) => r.msg === 'unstored alert dropped: buffer full (it was sent directly, but will not be stored)');
    expect(dropped).toEqual([expect.objectContaining({ level: 'error', alertId: 'id-1', subject: 's1', capacity: 2 })]);
    expect(slack.requests.map((r) => r.body.text)).toEqual([
      '[WARNING] Buffer test s1',
      '[WARNING] Buffer test s2',
      '[WARNING] Buffer test s3',
    ]);
    // The direct sends are what the flush will record as delivered.
    expect(unstored.entries()[1].sends).toEqual([
      expect.objectContaining({ channel: 'slack', recipient: 'ops', purpose: 'raised', error: null }),
    ]);
  });
});

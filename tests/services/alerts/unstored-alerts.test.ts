import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../../src/config';
import { createLogger } from '../../../src/lib/logger';
import { createContainer, type Container } from '../../../src/container';
import type { AlertDeliveryDoc, AlertDoc } from '../../../src/models/alert.model';
import type { AlertInput } from '../../../src/services/alerts/alert-raiser';
import { fingerprintOf } from '../../../src/services/alerts/alert.service';
import { isDatabaseUnreachable } from '../../../src/services/alerts/unstored-alerts';
import { MongoClient } from 'mongodb';
import mongoose from 'mongoose';
import { startFerretDb, startRedis, freePort, type LocalService } from '../../../scripts/local-services';
import { LogCapture, TestClock } from '../../support/app';
import { testNamespace, testRedisUrl } from '../../support/env';
import { startSmtpPeer, startTwilioPeer } from '../../support/peers';
import { startSlackPeer } from '../../support/slack-peer';
import { alertChannelEnv, parseMail, ONCALL_EMAIL, TWILIO_SID } from '../../support/alert-rig';
import { waitFor } from '../../support/wait';

/** A loaded shared test machine must not turn the host checks red: only MongoDB is meant to fail here. */
const CALM_HOST = {
  HEALTH_CPU_LOAD_PER_CORE: '1000/2000',
  HEALTH_EVENT_LOOP_DELAY_MS: '10000/20000',
  HEALTH_MEMORY_PERCENT: '99/100',
  HEALTH_DISK_PERCENT: '99/100',
};

const DB_CHECK = 'mongodb:responseTime';

describe('alerts while MongoDB is unreachable (own FerretDB, stopped and restarted)', () => {
  let ferret: LocalService;
  let port: number;
  let dataDir: string;
  let config: Config;
  let env: Record<string, string>;
  let redisPrefix: string;
  let smtp: Awaited<ReturnType<typeof startSmtpPeer>>;
  let twilioPeer: Awaited<ReturnType<typeof startTwilioPeer>>;
  let slack: Awaited<ReturnType<typeof startSlackPeer>>;
  const clock = new TestClock();
  const logs = new LogCapture();
  let a: Container;
  let b: Container;

  const make = async (cfg: Config = config): Promise<Container> => {
    const logger = createLogger({ level: cfg.log.level, destination: logs });
    const c = createContainer(cfg, logger, { now: clock.now, twilioHttpClient: twilioPeer.httpClient });
    await c.start();
    return c;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'erp-alerts-unstored-'));
    port = await freePort();
    ferret = await startFerretDb({ dataDir, port });
    smtp = await startSmtpPeer();
    twilioPeer = await startTwilioPeer(TWILIO_SID);
    slack = await startSlackPeer();
    const ns = testNamespace(__filename);
    redisPrefix = ns.redisPrefix;
    env = {
      NODE_ENV: 'test',
      MONGODB_URI: `mongodb://127.0.0.1:${port}/alerts_unstored`,
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: ns.redisPrefix,
      LOG_LEVEL: 'debug',
      MONGODB_MIN_POOL_SIZE: '1',
      MONGODB_SERVER_SELECTION_TIMEOUT_MS: '1000',
      MONGODB_HEARTBEAT_FREQUENCY_MS: '500',
      BCRYPT_COST: '10',
      ...CALM_HOST,
      HEALTH_CHECK_TIMEOUT_MS: '5000',
      HEALTH_SAMPLE_INTERVAL_MS: '3600000',
      HEALTH_READY_PING_MIN_INTERVAL_MS: '100',
      HEALTH_ALERT_AFTER_SAMPLES: '1',
      ...alertChannelEnv(smtp.url, slack.url('ops')),
      // The test drives the workers (runOnce) instead of their poll loop.
      ALERT_DELIVERY_POLL_MS: '600000',
    };
    config = loadConfig(env);
    // Two processes of one deployment: same database, same Redis prefix.
    a = await make();
    b = await make();
  }, 120_000);

  afterAll(async () => {
    await a?.database.connection.dropDatabase().catch(() => undefined);
    for (const c of [a, b]) await c?.stop().catch(() => undefined);
    await ferret?.stop?.();
    await smtp?.stop();
    await twilioPeer?.stop();
    await slack?.stop();
    const redis = (await import('ioredis')).default;
    const r = new redis(testRedisUrl());
    const keys = await r.keys(`${redisPrefix}*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
  });

  const slackTitles = (): string[] => slack.requests.map((r) => String(r.body.text));
  const mailSubjects = (): string[] => smtp.messages.map((m) => parseMail(m.raw).subject);
  const smsBodies = (): string[] => twilioPeer.requests.map((r) => r.form.get('Body') ?? '');
  const count = (list: string[], ...parts: string[]): number =>
    list.filter((s) => parts.every((p) => s.includes(p))).length;

  const stopDatabase = async (): Promise<void> => {
    await ferret.stop?.();
    // Both processes' drivers have noticed (mongoose marks the connection disconnected on a failed heartbeat).
    await waitFor(
      () => [a, b].every((c) => c.database.connection.readyState !== 1),
      20_000,
      'both connections to notice the database is down',
      100,
    );
  };
  const startDatabase = async (): Promise<void> => {
    ferret = await startFerretDb({ dataDir, port });
    await waitFor(
      () => [a, b].every((c) => c.database.connection.readyState === 1),
      30_000,
      'both connections to be back',
      100,
    );
  };
  const alertsOf = (subject: string) => a.models.Alert.find({ subject }).sort({ firstSeenAt: 1 }).lean<AlertDoc[]>();
  const deliveriesOf = (alertId: string) =>
    a.models.AlertDelivery.find({ alertId }).sort({ _id: 1 }).lean<AlertDeliveryDoc[]>();

  it('when MongoDB stops, then the health alert and a raised alert page Slack, mail and SMS once across two processes; when it returns, they are stored with their direct deliveries, nothing is sent twice, and recovery sends "resolved"', async () => {
    await stopDatabase();

    // HealthCheck's sampler in both processes, through the real AlertService (default wiring).
    await a.deps.operations.health.sampleNow();
    await b.deps.operations.health.sampleNow();
    // And an alert raised by hand in both processes at once.
    const input: AlertInput = {
      source: 'custom',
      kind: 'payroll.export-failed',
      subject: 'payroll:2026-11',
      severity: 'critical',
      title: 'Payroll export failed',
      message: 'The bank file could not be written.',
    };
    const [ra, rb] = await Promise.all([a.deps.operations.alerts.raise(input), b.deps.operations.alerts.raise(input)]);
    // Both processes keep it under one id (the Redis claim names it), so their flushes land on one alert.
    expect(ra.id).toBe(rb.id);
    expect([ra.created, rb.created].sort()).toEqual([false, true]);

    // Everything reached the peers while the database is down: once per channel.
    expect(count(slackTitles(), DB_CHECK, 'is fail')).toBe(1);
    expect(count(mailSubjects(), DB_CHECK, 'is fail')).toBe(1);
    expect(count(smsBodies(), DB_CHECK)).toBe(1);
    expect(count(slackTitles(), 'Payroll export failed')).toBe(1);
    expect(count(mailSubjects(), 'Payroll export failed')).toBe(1);
    expect(count(smsBodies(), 'Payroll export failed')).toBe(1);
    expect(smtp.messages.find((m) => parseMail(m.raw).subject.includes(DB_CHECK))?.to).toEqual([ONCALL_EMAIL]);
    // The message links to the id the alert will be stored under.
    expect(JSON.stringify(slack.requests.find((r) => String(r.body.text).includes('Payroll'))?.body)).toContain(
      `https://erp.example.com/console/alerts/${ra.id}`,
    );
    const sentWhileDown = { slack: slack.requests.length, mail: smtp.messages.length, sms: twilioPeer.requests.length };

    await startDatabase();
    // The delivery workers' polls store what was kept.
    await a.alertDelivery.runOnce();
    await b.alertDelivery.runOnce();

    const [health] = await alertsOf(DB_CHECK);
    expect(await alertsOf(DB_CHECK)).toHaveLength(1);
    expect(health).toMatchObject({
      status: 'open',
      source: 'health',
      kind: 'health.threshold',
      severity: 'critical',
      openKey: fingerprintOf({ source: 'health', kind: 'health.threshold', subject: DB_CHECK }),
      occurrences: 2,
    });
    expect([...health.notifiedChannels].sort()).toEqual(['dashboard', 'email', 'slack', 'sms']);
    const healthDeliveries = await deliveriesOf(health._id);
    expect(healthDeliveries.map((d) => [d.channel, d.purpose, d.status]).sort()).toEqual([
      ['dashboard', 'raised', 'delivered'],
      ['email', 'raised', 'delivered'],
      ['slack', 'raised', 'delivered'],
      ['sms', 'raised', 'delivered'],
    ]);
    const payroll = await a.models.Alert.findById(ra.id).lean<AlertDoc>();
    expect(payroll).toMatchObject({ status: 'open', occurrences: 2, title: 'Payroll export failed' });
    expect((await deliveriesOf(ra.id)).every((d) => d.status === 'delivered')).toBe(true);
    // The raises are audited once the audit trail can be written again.
    const audited = await a.models.AuditEvent.find({ action: 'alert.raised', resourceId: ra.id }).lean();
    expect(audited).toHaveLength(1);

    // More polls send nothing again.
    await a.alertDelivery.runOnce();
    await b.alertDelivery.runOnce();
    expect({ slack: slack.requests.length, mail: smtp.messages.length, sms: twilioPeer.requests.length }).toEqual(
      sentWhileDown,
    );
    // And a repeat while the database is up only counts.
    expect(await a.deps.operations.alerts.raise(input)).toMatchObject({ id: ra.id, created: false, occurrences: 3 });

    // Recovery: the sampler resolves the stored alert, the carrying channels hear it through the outbox.
    await waitFor(
      async () => {
        await a.deps.operations.health.sampleNow();
        return (await alertsOf(DB_CHECK))[0]?.status === 'resolved';
      },
      30_000,
      'the health alert to be resolved',
      250,
    );
    await a.alertDelivery.runOnce();
    expect(count(slackTitles(), '[RESOLVED]', DB_CHECK)).toBe(1);
    expect(count(mailSubjects(), '[RESOLVED]', DB_CHECK)).toBe(1);
    expect(count(smsBodies(), 'RESOLVED', DB_CHECK)).toBe(1);
    // The outage itself was still announced once only.
    expect(slackTitles().filter((t) => t.includes(DB_CHECK) && !t.startsWith('[RESOLVED]'))).toHaveLength(1);
  }, 180_000);

  it('when an unstored alert is resolved while MongoDB is still down, then "resolved" goes out directly and the flush stores it resolved without sending again', async () => {
    const input: AlertInput = {
      source: 'custom',
      kind: 'invoice.sync-stalled',
      subject: 'invoices:eu',
      severity: 'error',
      title: 'Invoice sync stalled',
      message: 'No invoice was synchronised for an hour.',
    };
    await stopDatabase();
    const raised = await a.deps.operations.alerts.raise(input);
    expect(count(slackTitles(), 'Invoice sync stalled')).toBe(1);
    expect(count(mailSubjects(), 'Invoice sync stalled')).toBe(1);
    // error severity: no SMS (routing still applies).
    expect(count(smsBodies(), 'Invoice sync stalled')).toBe(0);

    expect(await a.deps.operations.alerts.resolveByKey(input, 'caught up')).toBe(true);
    expect(count(slackTitles(), '[RESOLVED] Invoice sync stalled')).toBe(1);
    expect(count(mailSubjects(), '[RESOLVED] Invoice sync stalled')).toBe(1);
    const sent = { slack: slack.requests.length, mail: smtp.messages.length };

    await startDatabase();
    await a.alertDelivery.runOnce();
    const stored = await a.models.Alert.findById(raised.id).lean<AlertDoc>();
    expect(stored).toMatchObject({
      status: 'resolved',
      resolvedBy: 'system',
      resolveComment: 'caught up',
      openKey: `resolved:${raised.id}`,
    });
    expect(
      (await deliveriesOf(raised.id)).map((d) => [d.channel, d.purpose, d.status]).sort((x, y) => (x < y ? -1 : 1)),
    ).toEqual([
      ['dashboard', 'raised', 'delivered'],
      ['dashboard', 'resolved', 'delivered'],
      ['email', 'raised', 'delivered'],
      ['email', 'resolved', 'delivered'],
      ['slack', 'raised', 'delivered'],
      ['slack', 'resolved', 'delivered'],
    ]);
    await a.alertDelivery.runOnce();
    expect({ slack: slack.requests.length, mail: smtp.messages.length }).toEqual(sent);

    // The problem comes back during another outage: it pages again (the resolve freed the claim).
    await stopDatabase();
    const again = await b.deps.operations.alerts.raise(input);
    expect(again.id).not.toBe(raised.id);
    expect(count(slackTitles(), 'Invoice sync stalled')).toBe(3);
    await startDatabase();
    await b.alertDelivery.runOnce();
    expect(await a.models.Alert.findById(again.id).lean<AlertDoc>()).toMatchObject({ status: 'open' });
  }, 180_000);

  it('when the driver still believes the connection up and the insert meets the stopped server, then the raise falls back too', async () => {
    // Heartbeats far apart: nothing but the raise itself finds out that the server is gone.
    const c = await make(loadConfig({ ...env, MONGODB_HEARTBEAT_FREQUENCY_MS: '120000' }));
    const logsBefore = logs.lines.length;
    try {
      await ferret.stop?.();
      expect(c.database.connection.readyState).toBe(1);
      const raised = await c.deps.operations.alerts.raise({
        source: 'custom',
        kind: 'ledger.locked',
        subject: 'ledger:main',
        severity: 'error',
        title: 'Ledger locked',
        message: 'The ledger stayed locked after the close.',
      });
      expect(raised.created).toBe(true);
      expect(count(slackTitles(), 'Ledger locked')).toBe(1);
      expect(count(mailSubjects(), 'Ledger locked')).toBe(1);
      expect(logs.lines.slice(logsBefore).join('\n')).toContain('alert not stored: database unreachable');
    } finally {
      await startDatabase();
      await c.stop();
    }
  }, 180_000);

  it('when Redis is down too, then the alert is still sent, once per process, and stored later', async () => {
    const redis = await startRedis({ port: await freePort() });
    const c = await make(loadConfig({ ...env, REDIS_URL: redis.url }));
    const input: AlertInput = {
      source: 'custom',
      kind: 'bank.feed-down',
      subject: 'bank:main',
      severity: 'error',
      title: 'Bank feed down',
      message: 'No statement arrived.',
    };
    try {
      await redis.stop?.();
      await waitFor(() => c.redis.status !== 'ready', 10_000, 'the client to notice Redis is down');
      await stopDatabase();
      const first = await c.deps.operations.alerts.raise(input);
      const second = await c.deps.operations.alerts.raise(input);
      expect(second).toMatchObject({ id: first.id, created: false, occurrences: 2 });
      expect(count(slackTitles(), 'Bank feed down')).toBe(1);
      expect(count(mailSubjects(), 'Bank feed down')).toBe(1);
      expect(logs.text).toContain('redis unreachable too');
      await startDatabase();
      await waitFor(() => c.database.connection.readyState === 1, 30_000, 'the third process to reconnect', 100);
      await c.alertDelivery.runOnce();
      expect(await a.models.Alert.findById(first.id).lean<AlertDoc>()).toMatchObject({
        status: 'open',
        occurrences: 2,
      });
      expect(count(slackTitles(), 'Bank feed down')).toBe(1);
    } finally {
      if (ferret.stop && a.database.connection.readyState !== 1) await startDatabase();
      await c.stop();
    }
  }, 180_000);

  it('when storing fails for another reason than reachability, then raise throws as before and nothing is sent', async () => {
    const before = { slack: slack.requests.length, mail: smtp.messages.length };
    await expect(
      a.deps.operations.alerts.raise({
        source: 'custom',
        kind: 'bad.input',
        subject: 'x',
        // Not a severity: the model refuses it (a validation error, not an outage).
        severity: 'catastrophic' as AlertInput['severity'],
        title: 'Bad input',
        message: 'refused',
      }),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    expect({ slack: slack.requests.length, mail: smtp.messages.length }).toEqual(before);
    expect(await a.models.Alert.countDocuments({ kind: 'bad.input' })).toBe(0);
  });
});

describe('isDatabaseUnreachable', () => {
  it('when the driver cannot select a server, then yes; when the database refuses the write, then no', async () => {
    const client = new MongoClient(`mongodb://127.0.0.1:${await freePort()}/`, { serverSelectionTimeoutMS: 200 });
    const selection = await client
      .db('x')
      .collection('y')
      .insertOne({ a: 1 })
      .catch((err: unknown) => err);
    await client.close();
    expect(isDatabaseUnreachable(selection)).toBe(true);
    expect(isDatabaseUnreachable(new mongoose.Error.ValidationError())).toBe(false);
    expect(isDatabaseUnreachable(Object.assign(new Error('E11000 duplicate key'), { code: 11000 }))).toBe(false);
    expect(isDatabaseUnreachable(new Error('boom', { cause: selection }))).toBe(true);
  });

  it('when a command is written to a connection the server has just closed, then the socket error counts as unreachable', async () => {
    // What a request met when FerretDB stopped under it: the raw socket error, not a driver error.
    const server = net.createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(socket, 'end');
    const written = await new Promise<unknown>((resolve) => {
      socket.on('error', resolve);
      socket.write('ping', (err) => err && resolve(err));
    });
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    expect(written).toMatchObject({ message: 'This socket has been ended by the other party', code: 'EPIPE' });
    expect(isDatabaseUnreachable(written)).toBe(true);
    expect(isDatabaseUnreachable(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isDatabaseUnreachable(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(false);
  });
});

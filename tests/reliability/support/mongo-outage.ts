import http from 'node:http';
import { MongoClient } from 'mongodb';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, startFerretDb, type LocalService } from '../../../scripts/local-services';
import { buildTestApp, type TestApp } from '../../support/app';
import { alertChannelEnv, parseMail, TWILIO_SID } from '../../support/alert-rig';
import { startSmtpPeer, startTwilioPeer } from '../../support/peers';
import { startSlackPeer } from '../../support/slack-peer';
import { createUser, mfaSession } from '../../support/users';
import { waitFor } from '../../support/wait';
import { steadyLoad, type Sample } from './load';

/** A loaded shared test machine must not turn the host checks red: only MongoDB is meant to fail here. */
export const CALM_HOST = {
  HEALTH_CPU_LOAD_PER_CORE: '1000/2000',
  HEALTH_EVENT_LOOP_DELAY_MS: '10000/20000',
  HEALTH_MEMORY_PERCENT: '99/100',
  HEALTH_DISK_PERCENT: '99/100',
};

/** The configured bound a request may wait for MongoDB before it is answered 503. */
export const SERVER_SELECTION_TIMEOUT_MS = 1_000;

export interface MongoOutageResult {
  samples: Sample[];
  /** ms since the load started. */
  stoppedAt: number;
  restartedAt: number;
  /** First 200 of the data route after the restart, ms after restartedAt. */
  recoveredAfterMs: number;
  slackTexts: string[];
  mailSubjects: string[];
  readyDuringOutage: number[];
  alertsStoredAfter: Array<{ kind: string; subject: string; status: string }>;
  /** The app's first "request failed" log lines (what a 5xx was), for failure messages. */
  failureLogs: string[];
  /** The app's log lines about alerts (direct sends, deliveries), for failure messages. */
  alertLogs: string[];
}

/**
 * MongoDB (this test's own FerretDB) stopped for `outageMs` under a steady load of data
 * reads and readiness polls against the real app on a real HTTP listener; then restarted on
 * the same port and data, with no restart of the app.
 */
export async function runMongoOutage(file: string, outageMs: number): Promise<MongoOutageResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'erp-rel-mongo-'));
  const port = await freePort();
  let ferret: LocalService = await startFerretDb({ dataDir, port });
  // A FerretDB that just opened its port may take seconds to answer on a loaded machine; the
  // app's 1 s selection timeout is for the outage, not for this.
  const warm = new MongoClient(`mongodb://127.0.0.1:${port}/`, { serverSelectionTimeoutMS: 60_000 });
  await warm.db('admin').command({ ping: 1 });
  await warm.close();
  const smtp = await startSmtpPeer();
  const slack = await startSlackPeer();
  const twilioPeer = await startTwilioPeer(TWILIO_SID);
  let t: TestApp | undefined;
  let server: http.Server | undefined;
  try {
    t = await buildTestApp(
      file,
      {
        ...CALM_HOST,
        ...alertChannelEnv(smtp.url, slack.url('ops')),
        MONGODB_URI: `mongodb://127.0.0.1:${port}/rel_mongo_outage`,
        MONGODB_SERVER_SELECTION_TIMEOUT_MS: String(SERVER_SELECTION_TIMEOUT_MS),
        MONGODB_HEARTBEAT_FREQUENCY_MS: '500',
        BCRYPT_COST: '10',
        RATE_LIMIT_GENERAL: '100000/60',
        LOG_LEVEL: 'warn',
        // The app's own sampler (not the test) notices the outage and raises the alert.
        HEALTH_SAMPLE_INTERVAL_MS: '1000',
        HEALTH_ALERT_AFTER_SAMPLES: '1',
        HEALTH_CHECK_TIMEOUT_MS: '1500',
        HEALTH_READY_PING_MIN_INTERVAL_MS: '100',
        // The outage is seen as failing pings, not slow ones: a loaded machine's slow pings before
        // the stop would raise a warning (Slack only) and blur which alert reached whom.
        HEALTH_DB_LATENCY_MS: '30000/60000',
        HEALTH_REDIS_LATENCY_MS: '30000/60000',
        // A direct send cut by its timeout is not retried once the outage is over (the alert is
        // resolved by then, and a resolved problem is not paged again). On a CI machine running
        // two loaded jest workers, the SMTP exchange in this busy process once outlasted 10 s
        // (Slack arrived, mail did not): the bound here is for the database, not for the peers.
        ALERT_EMAIL_TIMEOUT_MS: '30000',
        ALERT_SLACK_TIMEOUT_MS: '30000',
        ALERT_SMS_TIMEOUT_MS: '30000',
      },
      { twilioHttpClient: twilioPeer.httpClient },
    );
    const app = t;
    const token = await mfaSession(app, await createUser(app, 'admin@rel-mongo.example', 'admin'));
    server = http.createServer(app.app);
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const auth = { Authorization: `Bearer ${token}` };
    const load = steadyLoad(
      base,
      [
        { path: '/api/v1/employees', headers: auth },
        { path: '/health/ready' },
        { path: '/api/v1/users', headers: auth },
      ],
      4,
      30_000,
    );
    const sinceStart = (): number => Date.now() - load.startedAt;
    const dataOk = (from: number): boolean =>
      load.samples.some((s) => s.at >= from && s.path !== '/health/ready' && s.status === 200);
    await waitFor(() => dataOk(0), 30_000, 'the load to get answers');

    await ferret.stop?.();
    const stoppedAt = sinceStart();
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    ferret = await startFerretDb({ dataDir, port });
    const restartedAt = sinceStart();
    await waitFor(() => dataOk(restartedAt), 60_000, 'a data request to succeed after the restart', 20);
    const firstOk = load.samples
      .filter((s) => s.at >= restartedAt && s.path !== '/health/ready' && s.status === 200)
      .reduce((min, s) => Math.min(min, s.at + s.durationMs), Infinity);
    // A little steady state after recovery: it must stay recovered.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await load.stop();

    const readyDuringOutage = load.samples
      .filter((s) => s.path === '/health/ready' && s.at > stoppedAt + 1_000 && s.at + s.durationMs < restartedAt)
      .map((s) => s.status);
    // The health alert sent directly while the database was down is stored once it is back.
    await waitFor(
      async () => (await app.container.models.Alert.countDocuments({ source: 'health', subject: /mongodb/ })) > 0,
      30_000,
      'the unstored MongoDB health alert to be stored',
      250,
    );
    // The direct sends race with the test's bookkeeping on a loaded machine (SMTP is slower than
    // the Slack webhook); a send still in flight, or retried from the outbox, counts once it lands.
    await waitFor(
      () =>
        slack.requests.some((r) => /mongodb/i.test(String(r.body.text))) &&
        smtp.messages.some((m) => /mongodb/i.test(parseMail(m.raw).subject)),
      30_000,
      'the MongoDB alert to reach Slack and mail',
      100,
    ).catch(() => undefined); // the assertions below report which channel is missing
    const alertsStoredAfter = (
      await app.container.models.Alert.find({}).lean<Array<{ kind: string; subject: string; status: string }>>()
    ).map((a) => ({ kind: a.kind, subject: a.subject, status: a.status }));
    return {
      samples: load.samples,
      stoppedAt,
      restartedAt,
      recoveredAfterMs: firstOk - restartedAt,
      slackTexts: slack.requests.map((r) => String(r.body.text)),
      mailSubjects: smtp.messages.map((m) => parseMail(m.raw).subject),
      readyDuringOutage,
      alertsStoredAfter,
      failureLogs: app.logs.lines.filter((l) => l.includes('request failed')).slice(0, 3),
      alertLogs: app.logs.lines.filter((l) => /alert|deliver/i.test(l)).slice(0, 20),
    };
  } finally {
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
    await t?.close();
    await ferret.stop?.();
    await smtp.stop();
    await slack.stop();
    await twilioPeer.stop();
  }
}

import { createLogger } from '../../src/lib/logger';
import { loadConfig, type Config } from '../../src/config';
import { createContainer, type Container } from '../../src/container';
import type { AlertChange, AlertChangePublisher, AlertInput } from '../../src/services/alerts/alert-raiser';
import { LogCapture, TestClock, TWILIO_TEST_AUTH_TOKEN } from './app';
import { testMongoUri, testNamespace, testRedisUrl } from './env';
import { startSmtpPeer, startTwilioPeer } from './peers';
import { startSlackPeer } from './slack-peer';

/** A failed-backup alert of severity error, which routes to e-mail, Slack and the dashboard. */
export const backupFailedAlert = (subject: string): AlertInput => ({
  source: 'backup',
  kind: 'backup.failed',
  subject,
  severity: 'error',
  title: `Backup ${subject} failed`,
  message: 'The upload to S3 was refused.',
});

export const ONCALL_EMAIL = 'oncall@example.com';
export const ONCALL_PHONE = '+15550001111';
export const TWILIO_SID = 'AC' + 'b'.repeat(32);

/** Records every published alert change (stands in for the alert stream of alerts-api). */
export class RecordingPublisher implements AlertChangePublisher {
  readonly changes: AlertChange[] = [];
  async publish(change: AlertChange): Promise<void> {
    this.changes.push(change);
  }
}

export interface AlertRig {
  config: Config;
  env: Record<string, string>;
  clock: TestClock;
  smtp: Awaited<ReturnType<typeof startSmtpPeer>>;
  twilioPeer: Awaited<ReturnType<typeof startTwilioPeer>>;
  slack: Awaited<ReturnType<typeof startSlackPeer>>;
  published: RecordingPublisher;
  logs: LogCapture;
  /** The running container (replaced by restart()). */
  c: Container;
  /** Stops the current container (its worker waits for sends in flight) and starts a new one on the same database. */
  restart(): Promise<Container>;
  close(): Promise<void>;
}

/**
 * The real container wired to real SMTP, Twilio and Slack peers on 127.0.0.1, with a movable
 * clock and a worker that only runs when the test calls runOnce() (the poll interval is long).
 */
/** Every alert channel pointed at the test's peers (SMTP, Twilio, one Slack webhook `ops`) and the on-call contacts. */
export function alertChannelEnv(smtpUrl: string, slackWebhookUrl: string): Record<string, string> {
  return {
    SMTP_URL: smtpUrl,
    TWILIO_ACCOUNT_SID: TWILIO_SID,
    TWILIO_AUTH_TOKEN: TWILIO_TEST_AUTH_TOKEN,
    TWILIO_FROM_NUMBER: '+15005550006',
    ALERT_SLACK_WEBHOOKS: `ops=${slackWebhookUrl}`,
    ALERT_EMAIL_TO: ONCALL_EMAIL,
    ALERT_SMS_TO: ONCALL_PHONE,
    ALERT_CONSOLE_URL: 'https://erp.example.com/console/alerts',
  };
}

export async function buildAlertRig(file: string, env: Record<string, string> = {}): Promise<AlertRig> {
  const smtp = await startSmtpPeer();
  const twilioPeer = await startTwilioPeer(TWILIO_SID);
  const slack = await startSlackPeer();
  const clock = new TestClock();
  const ns = testNamespace(file);
  const fullEnv: Record<string, string> = {
    NODE_ENV: 'test',
    MONGODB_URI: testMongoUri(ns.dbName),
    REDIS_URL: testRedisUrl(),
    REDIS_KEY_PREFIX: ns.redisPrefix,
    LOG_LEVEL: 'debug',
    MONGODB_MIN_POOL_SIZE: '1',
    // No wait-queue bound on a loaded shared test machine (tests/lib/database.wait-queue.test.ts tests the bound).
    MONGODB_WAIT_QUEUE_TIMEOUT_MS: '0',
    BCRYPT_COST: '10',
    ...alertChannelEnv(smtp.url, slack.url('ops')),
    ALERT_DELIVERY_POLL_MS: '600000',
    ALERT_DELIVERY_BACKOFF_MS: '1000',
    ALERT_DELIVERY_BACKOFF_MAX_MS: '60000',
    ...env,
  };
  const config = loadConfig(fullEnv);
  const logs = new LogCapture();
  const published = new RecordingPublisher();
  const make = async (): Promise<Container> => {
    const logger = createLogger({ level: config.log.level, destination: logs });
    const c = createContainer(config, logger, { now: clock.now, twilioHttpClient: twilioPeer.httpClient });
    c.alertPublisher.connect(published);
    await c.start();
    return c;
  };
  const rig: AlertRig = {
    config,
    env: fullEnv,
    clock,
    smtp,
    twilioPeer,
    slack,
    published,
    logs,
    c: await make(),
    async restart() {
      await rig.c.stop();
      rig.c = await make();
      return rig.c;
    },
    async close() {
      await rig.c.database.connection.dropDatabase().catch(() => undefined);
      await rig.c.stop();
      await smtp.stop();
      await twilioPeer.stop();
      await slack.stop();
    },
  };
  return rig;
}

export interface MailParts {
  subject: string;
  text: string;
  html: string;
}

const decodeQuotedPrintable = (s: string): string =>
  Buffer.from(
    s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8');

function decodeBody(headers: string, body: string): string {
  if (/content-transfer-encoding:\s*quoted-printable/i.test(headers)) return decodeQuotedPrintable(body);
  if (/content-transfer-encoding:\s*base64/i.test(headers)) return Buffer.from(body, 'base64').toString('utf8');
  return body;
}

/** RFC 2047 encoded words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`), as nodemailer writes non-ASCII headers. */
function decodeEncodedWords(header: string): string {
  return header
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?([QB])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQuotedPrintable(text.replace(/_/g, ' ')),
    );
}

/** Splits a raw multipart/alternative message into its subject, text and HTML parts (enough MIME for nodemailer's output). */
export function parseMail(raw: string): MailParts {
  const sep = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, sep).replace(/\r\n[ \t]+/g, ' ');
  const subject = decodeEncodedWords(/^subject: (.*)$/im.exec(head)?.[1] ?? '');
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(head)?.[1];
  if (!boundary) throw new Error('not a multipart message');
  const parts = raw
    .slice(sep + 4)
    .split(`--${boundary}`)
    .slice(1, -1);
  const out: MailParts = { subject, text: '', html: '' };
  for (const part of parts) {
    const p = part.replace(/^\r\n/, '');
    const i = p.indexOf('\r\n\r\n');
    const headers = p.slice(0, i);
    const body = decodeBody(headers, p.slice(i + 4).replace(/\r\n$/, ''));
    if (/content-type:\s*text\/plain/i.test(headers)) out.text = body;
    if (/content-type:\s*text\/html/i.test(headers)) out.html = body;
  }
  return out;
}

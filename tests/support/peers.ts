import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import twilio from 'twilio';

export interface CapturedMail {
  from: string;
  to: string[];
  raw: string;
}

/**
 * A real SMTP server on 127.0.0.1 that keeps every message it accepts, and in `refused`
 * the ones `failNext` made it refuse (so a test can try the code the user never got).
 */
export async function startSmtpPeer(): Promise<{
  url: string;
  messages: CapturedMail[];
  refused: CapturedMail[];
  stop: () => Promise<void>;
  failNext: (n: number) => void;
}> {
  const messages: CapturedMail[] = [];
  const refused: CapturedMail[] = [];
  let failures = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
      stream.on('end', () => {
        const mail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
        };
        if (failures > 0) {
          failures--;
          refused.push(mail);
          return callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }));
        }
        messages.push(mail);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    refused,
    failNext: (n) => (failures = n),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The last 6-digit code in the most recent message to `to`. */
export function lastCodeFor(messages: CapturedMail[], to: string): string {
  const mine = messages.filter((m) => m.to.includes(to));
  const body = mine[mine.length - 1]?.raw.replace(/=\r?\n/g, '') ?? '';
  const m = /code is (\d{6})/.exec(body);
  if (!m) throw new Error(`no code in mail to ${to}`);
  return m[1];
}

export interface SmsRequest {
  path: string;
  authorization: string | undefined;
  form: URLSearchParams;
}

/**
 * A loopback HTTP peer that answers like Twilio's Messages API, and a RequestClient for
 * the real twilio package that sends there instead of api.twilio.com.
 */
export async function startTwilioPeer(accountSid: string): Promise<{
  requests: SmsRequest[];
  httpClient: twilio.RequestClient;
  stop: () => Promise<void>;
  failNext: (n: number) => void;
}> {
  const requests: SmsRequest[] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      requests.push({ path: req.url ?? '', authorization: req.headers.authorization, form });
      if (failures > 0) {
        failures--;
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ code: 20500, message: 'Internal Server Error', status: 500 }));
        return;
      }
      if (
        req.method !== 'POST' ||
        req.url !== `/2010-04-01/Accounts/${accountSid}/Messages.json` ||
        !form.get('To') ||
        !form.get('From') ||
        !form.get('Body')
      ) {
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ code: 21604, message: 'bad request', status: 400 }));
        return;
      }
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          sid: 'SM' + 'a'.repeat(32),
          account_sid: accountSid,
          to: form.get('To'),
          from: form.get('From'),
          body: form.get('Body'),
          status: 'queued',
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  type RequestOptions = Parameters<twilio.RequestClient['request']>[0];
  class LoopbackClient extends twilio.RequestClient {
    override request<TData>(opts: RequestOptions) {
      return super.request<TData>({
        ...opts,
        uri: opts.uri.replace(/^https:\/\/api\.twilio\.com/, `http://127.0.0.1:${port}`),
      } as never);
    }
  }
  return {
    requests,
    httpClient: new LoopbackClient(),
    failNext: (n) => (failures = n),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function lastSmsCode(requests: SmsRequest[], to: string): string {
  const mine = requests.filter((r) => r.form.get('To') === to);
  const m = /code is (\d{6})/.exec(mine[mine.length - 1]?.form.get('Body') ?? '');
  if (!m) throw new Error(`no SMS code to ${to}`);
  return m[1];
}

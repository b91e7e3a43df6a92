import { inspect } from 'node:util';
import nodemailer, { type Transporter } from 'nodemailer';
import twilio, { type RequestClient } from 'twilio';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Security mail (one-time codes, notices) over SMTP. Failures are a 502, never a silent success. */
export class EmailSender {
  private readonly transport: Transporter | undefined;
  private readonly opts: { from: string; logger: Logger };

  /** The SMTP URL (it may carry credentials) goes to the transport and is not kept here. */
  constructor({ smtpUrl, ...opts }: { smtpUrl: string | undefined; from: string; logger: Logger }) {
    this.opts = opts;
    this.transport = smtpUrl ? nodemailer.createTransport(smtpUrl) : undefined;
  }

  /** The transport holds the SMTP credentials: never print it. */
  [inspect.custom](): string {
    return `EmailSender(${this.transport ? 'smtp' : 'not configured'})`;
  }

  get available(): boolean {
    return this.transport !== undefined;
  }

  async send(msg: MailMessage): Promise<void> {
    if (!this.transport) throw AppError.serviceUnavailable('Email delivery is not configured.');
    try {
      await this.transport.sendMail({ from: this.opts.from, to: msg.to, subject: msg.subject, text: msg.text });
    } catch (err) {
      this.opts.logger.error(
        { err: { message: (err as Error).message }, subject: msg.subject },
        'email delivery failed',
      );
      throw AppError.badGateway('The email could not be delivered; try again later.', err);
    }
  }

  close(): void {
    this.transport?.close();
  }
}

export interface SmsConfig {
  accountSid: string;
  authToken: string;
  from: string;
}

/** SMS through Twilio's Messages API. `httpClient` lets tests point the real client at a loopback peer. */
export class SmsSender {
  private readonly client: ReturnType<typeof twilio> | undefined;
  private readonly from: string | undefined;
  private readonly logger: Logger;

  /** The auth token goes to the twilio client and is not kept here. */
  constructor(opts: { config: SmsConfig | undefined; logger: Logger; httpClient?: RequestClient }) {
    this.client = opts.config
      ? twilio(opts.config.accountSid, opts.config.authToken, { httpClient: opts.httpClient, autoRetry: false })
      : undefined;
    this.from = opts.config?.from;
    this.logger = opts.logger;
  }

  /** The twilio client holds the auth token: never print it. */
  [inspect.custom](): string {
    return `SmsSender(${this.client ? 'twilio' : 'not configured'})`;
  }

  get available(): boolean {
    return this.client !== undefined;
  }

  async send(to: string, body: string): Promise<void> {
    if (!this.client || !this.from) throw AppError.serviceUnavailable('SMS delivery is not configured.');
    try {
      await this.client.messages.create({ to, from: this.from, body });
    } catch (err) {
      this.logger.error(
        { err: { message: (err as Error).message, status: (err as { status?: number }).status } },
        'sms delivery failed',
      );
      throw AppError.badGateway('The text message could not be sent; try again later.', err);
    }
  }
}

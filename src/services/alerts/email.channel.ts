import { inspect } from 'node:util';
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type { ChannelMessage, AlertChannelAdapter } from './channel';
import { factsOf, headline } from './channel';

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

const COLOURS: Record<string, string> = { info: '#2f80ed', warning: '#f2c94c', error: '#eb5757', critical: '#9b1c1c' };

/** Subject, plain-text and HTML bodies of one alert mail. */
export function renderAlertMail(msg: ChannelMessage): { subject: string; text: string; html: string } {
  const a = msg.alert;
  const subject = headline(msg).slice(0, 200);
  const facts = factsOf(a);
  const text = [
    subject,
    '',
    msg.purpose === 'resolved' ? `Resolved${a.resolveComment ? `: ${a.resolveComment}` : '.'}` : a.message,
    '',
    ...facts.map(([k, v]) => `${k}: ${v}`),
    '',
    `Open in the console: ${msg.link}`,
  ].join('\n');
  const colour = msg.purpose === 'resolved' ? '#27ae60' : (COLOURS[a.severity] ?? '#333333');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<h2 style="border-left:6px solid ${colour};padding-left:8px">${escapeHtml(subject)}</h2>`,
    `<p>${escapeHtml(msg.purpose === 'resolved' ? `Resolved${a.resolveComment ? `: ${a.resolveComment}` : '.'}` : a.message)}</p>`,
    '<table cellpadding="4">',
    ...facts.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`),
    '</table>',
    `<p><a href="${escapeHtml(msg.link)}">Open in the console</a></p>`,
    '</body></html>',
  ].join('\n');
  return { subject, text, html };
}

/** Alert mail over SMTP (ALERT_SMTP_URL, else the SMTP_URL of one-time codes). */
export class EmailChannel implements AlertChannelAdapter {
  readonly channel = 'email' as const;
  private readonly transport: Transporter | undefined;

  /** The SMTP URL may carry credentials: it goes to the transport and is not kept here. */
  constructor(
    smtpUrl: string | undefined,
    private readonly from: string,
    timeoutMs: number,
  ) {
    this.transport = smtpUrl
      ? nodemailer.createTransport({
          url: smtpUrl,
          connectionTimeout: timeoutMs,
          greetingTimeout: timeoutMs,
          socketTimeout: timeoutMs,
        } as SMTPTransport.Options)
      : undefined;
  }

  [inspect.custom](): string {
    return `EmailChannel(${this.transport ? 'smtp' : 'not configured'})`;
  }

  get available(): boolean {
    return this.transport !== undefined;
  }

  async send(msg: ChannelMessage): Promise<void> {
    if (!this.transport) throw new Error('alert e-mail is not configured');
    const { subject, text, html } = renderAlertMail(msg);
    await this.transport.sendMail({ from: this.from, to: msg.recipient, subject, text, html });
  }

  close(): void {
    this.transport?.close();
  }
}

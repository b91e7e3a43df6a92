import { inspect } from 'node:util';
import twilio, { type RequestClient } from 'twilio';
import type { AlertChannelAdapter, ChannelMessage } from './channel';

/** GSM 03.38 basic character set: one septet each. */
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** The extension table: two septets each (escape + character). */
const GSM7_EXTENDED = new Set('^{}\\[~]|€');
export const SMS_SEGMENT_SEPTETS = 160;

const REPLACEMENTS: Record<string, string> = {
  '‘': "'",
  '’': "'",
  '‚': "'",
  '“': '"',
  '”': '"',
  '„': '"',
  '–': '-',
  '—': '-',
  '…': '...',
  '\t': ' ',
  '\u00a0': ' ',
  '•': '*',
  '`': "'",
  // Letters without a combining-accent decomposition.
  Ł: 'L',
  ł: 'l',
  Đ: 'D',
  đ: 'd',
  Œ: 'OE',
  œ: 'oe',
};

/** Septets `text` takes in GSM-7, or Infinity if it holds a character outside it. */
export function gsm7Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    if (GSM7_BASIC.has(ch)) n += 1;
    else if (GSM7_EXTENDED.has(ch)) n += 2;
    else return Infinity;
  }
  return n;
}

/**
 * Makes `text` one GSM-7 segment: typographic characters replaced by their ASCII cousins,
 * accents dropped where GSM-7 lacks the letter, anything else turned into `?`, then cut to
 * 160 septets (ending in `...` when cut). Outside GSM-7 a message would go as UCS-2 (70
 * characters a segment) or be split, and a page must arrive as one message.
 */
export function toGsm7Segment(text: string, septets = SMS_SEGMENT_SEPTETS): string {
  let clean = '';
  for (const ch of text.replace(/\r\n/g, '\n')) {
    if (GSM7_BASIC.has(ch) || GSM7_EXTENDED.has(ch)) clean += ch;
    else if (REPLACEMENTS[ch] !== undefined) clean += REPLACEMENTS[ch];
    else {
      const base = ch.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
      clean += base.length > 0 && [...base].every((c) => GSM7_BASIC.has(c)) ? base : '?';
    }
  }
  clean = clean.replace(/[ \n]{2,}/g, (m) => (m.includes('\n') ? '\n' : ' ')).trim();
  if (gsm7Length(clean) <= septets) return clean;
  let out = '';
  let used = 0;
  for (const ch of clean) {
    const cost = GSM7_EXTENDED.has(ch) ? 2 : 1;
    if (used + cost > septets - 3) break;
    out += ch;
    used += cost;
  }
  return out.trimEnd() + '...';
}

/** The text of an alert SMS: headline, then the message, then the link if it still fits. */
export function renderAlertSms(msg: ChannelMessage): string {
  const a = msg.alert;
  const head =
    msg.purpose === 'resolved'
      ? `RESOLVED: ${a.title}`
      : `${a.severity.toUpperCase()}${msg.purpose === 'reminder' ? ` (still open, ${a.occurrences}x)` : ''}${msg.purpose === 'test' ? ' TEST' : ''}: ${a.title}`;
  const full = `ERP ${head}\n${msg.link}\n${msg.purpose === 'resolved' ? '' : a.message}`;
  return toGsm7Segment(full);
}

export interface SmsChannelConfig {
  accountSid: string;
  authToken: string;
  from: string;
}

/** Alert SMS through Twilio's Messages API (the account of the SMS codes); error and critical only (routing enforces it). */
export class SmsChannel implements AlertChannelAdapter {
  readonly channel = 'sms' as const;
  private readonly client: ReturnType<typeof twilio> | undefined;
  private readonly from: string | undefined;

  /** The auth token goes to the twilio client and is not kept here. */
  constructor(config: SmsChannelConfig | undefined, httpClient?: RequestClient) {
    this.client = config ? twilio(config.accountSid, config.authToken, { httpClient, autoRetry: false }) : undefined;
    this.from = config?.from;
  }

  [inspect.custom](): string {
    return `SmsChannel(${this.client ? 'twilio' : 'not configured'})`;
  }

  get available(): boolean {
    return this.client !== undefined;
  }

  async send(msg: ChannelMessage): Promise<void> {
    if (!this.client || !this.from) throw new Error('alert SMS is not configured');
    await this.client.messages.create({ to: msg.recipient, from: this.from, body: renderAlertSms(msg) });
  }
}

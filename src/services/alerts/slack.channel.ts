import { inspect } from 'node:util';
import type { AlertChannelAdapter, ChannelMessage } from './channel';
import { factsOf, headline } from './channel';

/** Attachment colours by severity (the left bar of the message); green once resolved. */
export const SLACK_COLOURS: Record<string, string> = {
  info: '#2f80ed',
  warning: '#f2c94c',
  error: '#eb5757',
  critical: '#9b1c1c',
  resolved: '#27ae60',
};

/** Escapes Slack mrkdwn control characters (user-supplied text must not become links or mentions). */
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The webhook body: a Block Kit message inside an attachment (the attachment carries the colour). */
export function renderSlackPayload(msg: ChannelMessage): Record<string, unknown> {
  const a = msg.alert;
  const title = headline(msg);
  const body = msg.purpose === 'resolved' ? `Resolved${a.resolveComment ? `: ${a.resolveComment}` : '.'}` : a.message;
  const fields = factsOf(a)
    .slice(0, 10) // Block Kit allows 10 fields per section
    .map(([k, v]) => ({ type: 'mrkdwn', text: `*${esc(k)}*\n${esc(v)}`.slice(0, 2000) }));
  return {
    text: title.slice(0, 300), // notification fallback
    attachments: [
      {
        color: SLACK_COLOURS[msg.purpose === 'resolved' ? 'resolved' : a.severity],
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150), emoji: false } },
          { type: 'section', text: { type: 'mrkdwn', text: esc(body).slice(0, 3000) } },
          { type: 'section', fields },
          {
            type: 'actions',
            elements: [
              {
                type: 'button',
                text: { type: 'plain_text', text: 'Open in console' },
                url: msg.link,
                action_id: 'open-alert',
              },
            ],
          },
        ],
      },
    ],
  };
}

/** Slack incoming webhooks by name (ALERT_SLACK_WEBHOOKS); the recipient of a delivery is the name. */
export class SlackChannel implements AlertChannelAdapter {
  readonly channel = 'slack' as const;
  private readonly urls: Map<string, string>;

  /** Webhook URLs are credentials: kept privately, never printed. */
  constructor(webhooks: Array<{ name: string; url: string }>) {
    this.urls = new Map(webhooks.map((w) => [w.name, w.url]));
  }

  [inspect.custom](): string {
    return `SlackChannel(${[...this.urls.keys()].join(',') || 'not configured'})`;
  }

  get available(): boolean {
    return this.urls.size > 0;
  }

  async send(msg: ChannelMessage, signal: AbortSignal): Promise<void> {
    const url = this.urls.get(msg.recipient);
    if (!url) throw new Error(`no Slack webhook named "${msg.recipient}"`);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(renderSlackPayload(msg)),
        signal,
        redirect: 'error',
      });
    } catch (err) {
      // The cause names what went wrong (ECONNREFUSED, a TLS error); the URL (a credential) stays out.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(
        `Slack webhook "${msg.recipient}" unreachable: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        { cause: err },
      );
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) throw new Error(`Slack answered ${res.status}: ${text.slice(0, 200)}`);
  }
}

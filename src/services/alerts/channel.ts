import type { AlertChannel, AlertDoc, DeliveryPurpose } from '../../models/alert.model';

/** One message to send: the alert as stored, why it is sent, to whom, and where operators look at it. */
export interface ChannelMessage {
  alert: AlertDoc;
  purpose: DeliveryPurpose;
  recipient: string;
  /** `${ALERT_CONSOLE_URL}/<alert id>` */
  link: string;
}

/**
 * A way out for alerts. `send` resolves once the peer accepted the message and throws
 * otherwise; the delivery worker owns timeouts (it aborts `signal`), retries and breakers.
 */
export interface AlertChannelAdapter {
  readonly channel: AlertChannel;
  /** Configured at all (SMTP URL, Twilio account, webhooks): unconfigured channels are never routed to. */
  readonly available: boolean;
  send(msg: ChannelMessage, signal: AbortSignal): Promise<void>;
  close?(): void;
}

/** The line every channel starts with: what kind of message this is. */
export function headline(msg: ChannelMessage): string {
  const a = msg.alert;
  const tag = a.severity.toUpperCase();
  switch (msg.purpose) {
    case 'resolved':
      return `[RESOLVED] ${a.title}`;
    case 'reminder':
      return `[${tag}] Still open (${a.occurrences}x): ${a.title}`;
    case 'test':
      return `[TEST] ${a.title}`;
    default:
      return `[${tag}] ${a.title}`;
  }
}

/** The facts shown as fields (Slack) or a table (mail): never secrets, bounded in size. */
export function factsOf(alert: AlertDoc): Array<[string, string]> {
  const facts: Array<[string, string]> = [
    ['Severity', alert.severity],
    ['Source', alert.source],
    ['Kind', alert.kind],
    ['Occurrences', String(alert.occurrences)],
    ['First seen', alert.firstSeenAt.toISOString()],
    ['Last seen', alert.lastSeenAt.toISOString()],
  ];
  if (alert.subject) facts.splice(3, 0, ['Subject', alert.subject]);
  for (const [k, v] of Object.entries(alert.details ?? {}).slice(0, 10)) {
    facts.push([k, (typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))).slice(0, 200)]);
  }
  return facts;
}

/**
 * Sends one message, bounded by `timeoutMs`: resolves to null on success or the error text.
 * A send past its timeout is aborted (the adapter gets the signal) and counts as failed.
 */
export async function sendWithTimeout(
  adapter: AlertChannelAdapter,
  message: ChannelMessage,
  timeoutMs: number,
): Promise<string | null> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(`timed out after ${timeoutMs} ms`);
    }, timeoutMs);
  });
  const send = adapter.send(message, controller.signal).then(
    () => null,
    (err: unknown) => (err instanceof Error ? err.message : String(err)) || 'send failed',
  );
  try {
    return await Promise.race([send, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

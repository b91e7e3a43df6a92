import { z } from 'zod';
import type { AlertChannel } from '../../models/alert.model';
import { ALERT_CHANNELS } from '../../models/alert.model';
import type { UserModel } from '../../models/user.model';
import { ALERT_SEVERITIES, ALERT_SOURCES, type AlertSeverity, type AlertSource } from './alert-raiser';

/** Channels that address someone (the dashboard addresses everyone with `alert:read`). */
export type AddressedChannel = Exclude<AlertChannel, 'dashboard'>;
export type RecipientLists = Partial<Record<AddressedChannel, string[]>>;

/** One row of the routing table: which channels (and optionally which recipients) a severity, maybe of one source, goes to. */
export interface AlertRoute {
  severity: AlertSeverity;
  source?: AlertSource;
  channels: AlertChannel[];
  /** Overrides the default recipients of a channel for this row. */
  recipients?: RecipientLists;
}

/** The defaults of issue 10: the louder the severity, the more channels. */
export const DEFAULT_ROUTES: readonly AlertRoute[] = [
  { severity: 'critical', channels: ['email', 'sms', 'slack', 'dashboard'] },
  { severity: 'error', channels: ['email', 'slack', 'dashboard'] },
  { severity: 'warning', channels: ['slack', 'dashboard'] },
  { severity: 'info', channels: ['dashboard'] },
];

/** SMS is for pages only: lower severities never text anyone, whatever the table says. */
export const SMS_SEVERITIES: readonly AlertSeverity[] = ['error', 'critical'];

const ROLE_PREFIX = 'role:';
const E164 = /^\+[1-9]\d{6,14}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const ROLE = /^role:[a-z][a-z0-9_-]{0,63}$/;

const routeSchema = z
  .object({
    severity: z.enum(ALERT_SEVERITIES),
    source: z.enum(ALERT_SOURCES).optional(),
    channels: z.array(z.enum(ALERT_CHANNELS)).min(1),
    recipients: z
      .object({
        email: z.array(z.string()).optional(),
        sms: z.array(z.string()).optional(),
        slack: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Problems with one recipient list, or none. `webhooks` are the configured Slack webhook names. */
export function recipientProblems(channel: AddressedChannel, list: string[], webhooks: string[]): string[] {
  const problems: string[] = [];
  for (const r of list) {
    if (channel === 'slack') {
      if (!webhooks.includes(r)) problems.push(`slack recipient "${r}" is not a webhook name in ALERT_SLACK_WEBHOOKS`);
    } else if (r.startsWith(ROLE_PREFIX)) {
      if (!ROLE.test(r)) problems.push(`${channel} recipient "${r}" is not a valid role:<name>`);
    } else if (channel === 'email' ? !EMAIL.test(r) : !E164.test(r)) {
      problems.push(
        `${channel} recipient "${r}" must be ${channel === 'email' ? 'an e-mail address' : 'an E.164 number'} or role:<name>`,
      );
    }
  }
  return problems;
}

/**
 * ALERT_ROUTES → the full table: configured rows first (they win), then the default row of
 * every severity. Returns problems (one line each) instead of throwing, so config loading
 * can list them all and refuse to start.
 */
export function parseAlertRoutes(
  raw: string | undefined,
  webhooks: string[],
): { routes: AlertRoute[]; problems: string[] } {
  const problems: string[] = [];
  let configured: AlertRoute[] = [];
  if (raw !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { routes: [...DEFAULT_ROUTES], problems: ['ALERT_ROUTES: not valid JSON'] };
    }
    const parsed = z.array(routeSchema).safeParse(json);
    if (!parsed.success) {
      for (const i of parsed.error.issues) problems.push(`ALERT_ROUTES[${i.path.join('.')}]: ${i.message}`);
      return { routes: [...DEFAULT_ROUTES], problems };
    }
    configured = parsed.data;
    const seen = new Set<string>();
    configured.forEach((route, i) => {
      const key = `${route.severity}/${route.source ?? '*'}`;
      if (seen.has(key)) problems.push(`ALERT_ROUTES[${i}]: a second row for ${key}`);
      seen.add(key);
      for (const ch of ['email', 'sms', 'slack'] as const) {
        const list = route.recipients?.[ch];
        if (list) problems.push(...recipientProblems(ch, list, webhooks).map((p) => `ALERT_ROUTES[${i}]: ${p}`));
      }
    });
  }
  return { routes: [...configured, ...DEFAULT_ROUTES], problems };
}

export interface RoutedChannel {
  channel: AlertChannel;
  /** Addresses, numbers, webhook names or `role:<name>` (resolved at send time by RecipientResolver). */
  recipients: string[];
}

/** Picks the route of an alert: a row for its severity and source, else for its severity, else the default. */
export class AlertRouting {
  constructor(
    private readonly deps: {
      routes: readonly AlertRoute[];
      defaultRecipients: Required<RecipientLists>;
      /** Channels that are configured (SMTP, Twilio, webhooks): others are skipped at enqueue. */
      available: (channel: AlertChannel) => boolean;
    },
  ) {}

  route(severity: AlertSeverity, source: AlertSource): RoutedChannel[] {
    const rows = this.deps.routes;
    const row =
      rows.find((r) => r.severity === severity && r.source === source) ??
      rows.find((r) => r.severity === severity && r.source === undefined);
    if (!row) return [{ channel: 'dashboard', recipients: ['dashboard'] }];
    return this.expand(row.channels, row.recipients, severity);
  }

  /** Channels chosen by hand (a test alert): default recipients, same SMS and availability rules. */
  explicit(channels: AlertChannel[], severity: AlertSeverity): RoutedChannel[] {
    return this.expand(channels, undefined, severity);
  }

  private expand(channels: AlertChannel[], recipients: RecipientLists | undefined, severity: AlertSeverity) {
    const out: RoutedChannel[] = [];
    for (const channel of new Set(channels)) {
      if (channel === 'dashboard') {
        out.push({ channel, recipients: ['dashboard'] });
        continue;
      }
      if (channel === 'sms' && !SMS_SEVERITIES.includes(severity)) continue;
      if (!this.deps.available(channel)) continue;
      const list = recipients?.[channel] ?? this.deps.defaultRecipients[channel];
      if (list.length) out.push({ channel, recipients: list });
    }
    return out;
  }
}

/**
 * Turns `role:<name>` into the contacts of that role's active users: every e-mail address
 * (the sign-in identity; the user model keeps no separate verification flag for it), and
 * phone numbers only when verified. Literal recipients pass through.
 */
export class RecipientResolver {
  /** `<channel>:role:<name>` → the contacts last resolved: alerts sent while MongoDB is down use them. */
  private readonly lastKnown = new Map<string, string[]>();

  constructor(private readonly deps: { users: UserModel }) {}

  async resolve(channel: AlertChannel, recipients: string[]): Promise<string[]> {
    if (channel === 'dashboard' || channel === 'slack') return [...new Set(recipients)];
    const out = new Set<string>();
    for (const r of recipients) {
      if (!r.startsWith(ROLE_PREFIX)) {
        out.add(channel === 'email' ? r.toLowerCase() : r);
        continue;
      }
      const role = r.slice(ROLE_PREFIX.length);
      // Hydrated documents: the encryption plugin decrypts the phone number.
      const users = await this.deps.users.find({ role, status: 'active' }).limit(500);
      const contacts: string[] = [];
      for (const u of users) {
        if (channel === 'email' && u.email) contacts.push(u.email.toLowerCase());
        if (channel === 'sms' && u.phoneVerified && u.phone && E164.test(u.phone)) contacts.push(u.phone);
      }
      this.lastKnown.set(`${channel}:${r}`, contacts);
      for (const c of contacts) out.add(c);
    }
    return [...out];
  }

  /**
   * Without the database: literal recipients, and roles as this process last resolved them.
   * `unresolved` names the roles never resolved here (nobody to send to for them).
   */
  resolveWithoutDatabase(channel: AlertChannel, recipients: string[]): { recipients: string[]; unresolved: string[] } {
    const out = new Set<string>();
    const unresolved: string[] = [];
    for (const r of recipients) {
      if (!r.startsWith(ROLE_PREFIX) || channel === 'dashboard' || channel === 'slack') {
        out.add(channel === 'email' ? r.toLowerCase() : r);
        continue;
      }
      const known = this.lastKnown.get(`${channel}:${r}`);
      if (known) for (const c of known) out.add(c);
      else unresolved.push(r);
    }
    return { recipients: [...out], unresolved };
  }
}

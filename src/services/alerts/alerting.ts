import type { RequestClient } from 'twilio';
import type { Config } from '../../config';
import type { Logger } from '../../lib/logger';
import type { RedisClient } from '../../lib/redis';
import type { Models } from '../../models';
import type { AuditTrail } from '../audit/audit-trail';
import type { SingleUseClaims } from '../auth/single-use-claims';
import type { VersionedWriter } from '../versioning/versioned-writer';
import { AlertService } from './alert.service';
import { AlertDeliveryWorker } from './alert-delivery';
import { AlertSources } from './alert-sources';
import { AlertRouting, RecipientResolver } from './routing';
import { EmailChannel } from './email.channel';
import { SmsChannel } from './sms.channel';
import { SlackChannel } from './slack.channel';
import { DashboardChannel, PublisherSlot } from './dashboard.channel';
import { UnstoredAlerts } from './unstored-alerts';
import type { AlertChannel } from '../../models/alert.model';
import type { AlertSeverity } from './alert-raiser';

/** Alerts kept in memory while MongoDB is unreachable (each is a few KB); beyond this the oldest is dropped. */
const UNSTORED_CAPACITY = 1000;

export interface Alerting {
  alerts: AlertService;
  worker: AlertDeliveryWorker;
  /** Where alert changes go live: the lead connects the alert stream (AlertChangePublisher) here. */
  publisher: PublisherSlot;
  sources: AlertSources;
  /** Configured channels missing a setting (SMTP, Twilio, webhooks): alerts routed there are skipped. */
  unavailable: AlertChannel[];
}

/** Builds the alert engine from config: channels, routing, the service, its delivery worker and the signal sources. */
export function buildAlerting(deps: {
  config: Config;
  models: Models;
  writer: VersionedWriter;
  claims: SingleUseClaims;
  audit: AuditTrail;
  logger: Logger;
  redis: RedisClient;
  twilioHttpClient?: RequestClient;
  onRaised?: (severity: AlertSeverity) => void;
  now?: () => Date;
}): Alerting {
  const { config, models, logger } = deps;
  const cfg = config.alerts;
  const publisher = new PublisherSlot();
  const channels = {
    email: new EmailChannel(cfg.smtpUrl?.reveal(), cfg.mailFrom, cfg.timeoutsMs.email),
    sms: new SmsChannel(
      config.sms && { ...config.sms, authToken: config.sms.authToken.reveal() },
      deps.twilioHttpClient,
    ),
    slack: new SlackChannel(cfg.slackWebhooks.map((h) => ({ name: h.name, url: h.url.reveal() }))),
    dashboard: new DashboardChannel((change) => publisher.publish(change)),
  };
  const recipients = new RecipientResolver({ users: models.User });
  const alerts = new AlertService({
    alerts: models.Alert,
    deliveries: models.AlertDelivery,
    occurrences: models.AlertOccurrence,
    writer: deps.writer,
    claims: deps.claims,
    audit: deps.audit,
    logger: logger.child({ component: 'alerts' }),
    routing: new AlertRouting({
      routes: cfg.routes,
      defaultRecipients: cfg.defaultRecipients,
      available: (channel) => channels[channel].available,
    }),
    recipients,
    publisher,
    dedupWindowMs: cfg.dedupWindowMs,
    repeatIntervalMs: cfg.repeatIntervalMs,
    errorRateThreshold: cfg.errorRateThreshold,
    onRaised: deps.onRaised,
    unstored: new UnstoredAlerts({
      redis: deps.redis,
      adapters: [channels.email, channels.sms, channels.slack],
      recipients,
      logger: logger.child({ component: 'alerts-unstored' }),
      consoleUrl: cfg.consoleUrl,
      timeoutsMs: cfg.timeoutsMs,
      dedupWindowMs: cfg.dedupWindowMs,
      capacity: UNSTORED_CAPACITY,
      now: deps.now,
    }),
    now: deps.now,
  });
  const worker = new AlertDeliveryWorker({
    deliveries: models.AlertDelivery,
    alerts: models.Alert,
    claims: deps.claims,
    audit: deps.audit,
    logger: logger.child({ component: 'alert-delivery' }),
    adapters: Object.values(channels),
    hooks: { delivered: (d) => alerts.deliveryDelivered(d), failed: (d) => alerts.deliveryFailed(d) },
    consoleUrl: cfg.consoleUrl,
    pollMs: cfg.pollMs,
    maxAttempts: cfg.maxAttempts,
    backoffMs: cfg.backoffMs,
    backoffMaxMs: cfg.backoffMaxMs,
    concurrency: cfg.concurrency,
    timeoutsMs: { ...cfg.timeoutsMs, dashboard: 5_000 },
    breaker: cfg.breaker,
    beforePoll: () => alerts.flushUnstored(),
    now: deps.now,
  });
  const sources = new AlertSources(alerts);
  // Redis down/up as this client sees it (the rate limiter reports its own view; both dedupe into one alert).
  let redisDown = false;
  deps.redis.on('error', (err: Error) => {
    if (!redisDown) sources.redisDown('connection', err);
    redisDown = true;
  });
  deps.redis.on('ready', () => {
    if (redisDown) sources.redisUp();
    redisDown = false;
  });
  const unavailable = (['email', 'sms', 'slack'] as const).filter((c) => !channels[c].available);
  return { alerts, worker, publisher, sources, unavailable };
}

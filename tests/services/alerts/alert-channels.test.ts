import { freePort } from '../../../scripts/local-services';
import { buildAlertRig, parseMail, ONCALL_EMAIL, ONCALL_PHONE, type AlertRig } from '../../support/alert-rig';
import { gsm7Length } from '../../../src/services/alerts/sms.channel';
import { auditCount } from '../../support/audit';
import type { TestApp } from '../../support/app';

/** A critical alert reaches every channel through its real protocol peer, formatted for it. */
describe('alert channels (real SMTP, Twilio and Slack peers)', () => {
  let rig: AlertRig;
  beforeAll(async () => {
    rig = await buildAlertRig(__filename);
  });
  afterAll(async () => {
    await rig.close();
  });

  it('delivers a critical alert by e-mail (text and HTML), SMS (one GSM-7 segment) and Slack (Block Kit)', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const raised = await alerts.raise({
      source: 'health',
      kind: 'mongodb.latency',
      subject: 'mongodb:primary',
      severity: 'critical',
      title: 'MongoDB latency above 2 s — “primary” is struggling',
      message: 'p99 latency of the primary is 2.4 s (threshold 500 ms) for 5 minutes. ' + 'Details follow. '.repeat(20),
      details: { p99Ms: 2400, thresholdMs: 500 },
    });
    expect(raised.created).toBe(true);

    // Stored first, sent afterwards: nothing has left yet.
    const pending = await alerts.deliveriesOf(raised.id);
    expect(pending.map((d) => `${d.channel}:${d.status}`).sort()).toEqual([
      'dashboard:delivered',
      'email:pending',
      'slack:pending',
      'sms:pending',
    ]);
    expect(rig.smtp.messages).toHaveLength(0);

    await rig.c.alertDelivery.runOnce();

    const link = `https://erp.example.com/console/alerts/${raised.id}`;
    expect(rig.smtp.messages).toHaveLength(1);
    expect(rig.smtp.messages[0].to).toEqual([ONCALL_EMAIL]);
    const mail = parseMail(rig.smtp.messages[0].raw);
    expect(mail.text).toContain('p99 latency of the primary is 2.4 s');
    expect(mail.text).toContain(`Open in the console: ${link}`);
    expect(mail.text).toContain('p99Ms: 2400');
    expect(mail.html).toContain('<table');
    expect(mail.html).toContain(`href="${link}"`);
    expect(mail.subject).toContain('[CRITICAL] MongoDB latency above 2 s');
    expect(mail.html).toContain('“primary”');

    expect(rig.twilioPeer.requests).toHaveLength(1);
    const sms = rig.twilioPeer.requests[0].form;
    expect(sms.get('To')).toBe(ONCALL_PHONE);
    const body = sms.get('Body') ?? '';
    expect(gsm7Length(body)).toBeLessThanOrEqual(160);
    expect(body).toMatch(/^ERP CRITICAL: MongoDB latency above 2 s - "primary" is struggling\n/);
    expect(body).toContain(link);
    expect(body.endsWith('...')).toBe(true);

    expect(rig.slack.requests).toHaveLength(1);
    const slack = rig.slack.requests[0];
    expect(slack.path).toBe('/services/T000/ops');
    expect(slack.contentType).toBe('application/json');
    const attachment = (slack.body.attachments as Array<Record<string, unknown>>)[0];
    expect(attachment.color).toBe('#9b1c1c');
    const blocks = attachment.blocks as Array<Record<string, unknown>>;
    expect(blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'actions']);
    expect((blocks[0].text as { text: string }).text).toContain('[CRITICAL] MongoDB latency above 2 s');
    const fields = (blocks[2].fields as Array<{ text: string }>).map((f) => f.text);
    expect(fields).toContain('*Severity*\ncritical');
    expect(fields).toContain('*Subject*\nmongodb:primary');
    const button = (blocks[3].elements as Array<{ url: string }>)[0];
    expect(button.url).toBe(link);

    const after = await alerts.deliveriesOf(raised.id);
    expect(after.every((d) => d.status === 'delivered')).toBe(true);
    expect(after.filter((d) => d.channel !== 'dashboard').every((d) => d.attempts === 1)).toBe(true);
    const alert = await alerts.get(raised.id);
    expect([...(alert?.notifiedChannels ?? [])].sort()).toEqual(['dashboard', 'email', 'slack', 'sms']);

    const t = { container: rig.c } as unknown as TestApp;
    expect(await auditCount(t, { action: 'alert.raised', resourceId: raised.id })).toBe(1);
    expect(await auditCount(t, { action: 'alert.delivery.delivered', resourceId: raised.id })).toBe(3);
    expect(rig.published.changes).toContainEqual({ type: 'raised', alertId: raised.id });

    // A second poll sends nothing again.
    await rig.c.alertDelivery.runOnce();
    expect(rig.smtp.messages).toHaveLength(1);
    expect(rig.slack.requests).toHaveLength(1);
    expect(rig.twilioPeer.requests).toHaveLength(1);
  });

  it('routes a warning to Slack and the dashboard only, and an info alert to the dashboard only', async () => {
    const alerts = rig.c.deps.operations.alerts;
    const warning = await alerts.raise({
      source: 'backup',
      kind: 'backup.slow',
      severity: 'warning',
      title: 'Backup slow',
      message: 'The nightly backup took 3 h.',
    });
    const info = await alerts.raise({
      source: 'custom',
      kind: 'note',
      severity: 'info',
      title: 'FYI',
      message: 'Just so you know.',
    });
    expect((await alerts.deliveriesOf(warning.id)).map((d) => d.channel).sort()).toEqual(['dashboard', 'slack']);
    expect((await alerts.deliveriesOf(info.id)).map((d) => d.channel)).toEqual(['dashboard']);
  });
});

describe('an unreachable Slack webhook', () => {
  it('records why it failed without the webhook URL (a credential)', async () => {
    const port = await freePort();
    const rig = await buildAlertRig(__filename, {
      ALERT_SLACK_WEBHOOKS: `ops=http://127.0.0.1:${port}/services/T0/B0/webhook-token-xyz`,
    });
    try {
      const raised = await rig.c.deps.operations.alerts.raise({
        source: 'custom',
        kind: 'k',
        severity: 'warning',
        title: 'T',
        message: 'M',
      });
      await rig.c.alertDelivery.runOnce();
      const slack = (await rig.c.deps.operations.alerts.deliveriesOf(raised.id)).find((d) => d.channel === 'slack')!;
      expect(slack.lastError).toBe('Slack webhook "ops" unreachable: ECONNREFUSED');
      expect(rig.logs.text).not.toContain('webhook-token-xyz');
    } finally {
      await rig.close();
    }
  });
});

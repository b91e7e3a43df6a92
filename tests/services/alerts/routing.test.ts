import { configProblems } from '../../support/config';
import { loadConfig } from '../../../src/config';
import { AlertRouting, DEFAULT_ROUTES, parseAlertRoutes } from '../../../src/services/alerts/routing';
import { buildTestApp, type TestApp } from '../../support/app';
import { createUser } from '../../support/users';

const defaults = { email: ['ops@example.com'], sms: ['+15550002222'], slack: ['ops'] };
const everything = () => true;

describe('alert routing table', () => {
  it('defaults: critical → all channels, error → email/slack/dashboard, warning → slack/dashboard, info → dashboard', () => {
    const routing = new AlertRouting({ routes: DEFAULT_ROUTES, defaultRecipients: defaults, available: everything });
    const channels = (s: 'info' | 'warning' | 'error' | 'critical') => routing.route(s, 'health').map((r) => r.channel);
    expect(channels('critical')).toEqual(['email', 'sms', 'slack', 'dashboard']);
    expect(channels('error')).toEqual(['email', 'slack', 'dashboard']);
    expect(channels('warning')).toEqual(['slack', 'dashboard']);
    expect(channels('info')).toEqual(['dashboard']);
  });

  it('a severity + source row beats a severity row, which beats the default; SMS only for error and critical', () => {
    const { routes, problems } = parseAlertRoutes(
      JSON.stringify([
        {
          severity: 'warning',
          source: 'security',
          channels: ['email', 'sms'],
          recipients: { email: ['sec@example.com'] },
        },
        { severity: 'warning', channels: ['dashboard'] },
        { severity: 'error', channels: ['sms', 'dashboard'], recipients: { sms: ['role:admin'] } },
      ]),
      ['ops'],
    );
    expect(problems).toEqual([]);
    const routing = new AlertRouting({ routes, defaultRecipients: defaults, available: everything });
    // SMS dropped for a warning even when the table names it.
    expect(routing.route('warning', 'security')).toEqual([{ channel: 'email', recipients: ['sec@example.com'] }]);
    expect(routing.route('warning', 'health')).toEqual([{ channel: 'dashboard', recipients: ['dashboard'] }]);
    expect(routing.route('error', 'backup')).toEqual([
      { channel: 'sms', recipients: ['role:admin'] },
      { channel: 'dashboard', recipients: ['dashboard'] },
    ]);
    expect(routing.route('critical', 'backup').map((r) => r.channel)).toEqual(['email', 'sms', 'slack', 'dashboard']);
  });

  it('skips channels that are not configured', () => {
    const routing = new AlertRouting({
      routes: DEFAULT_ROUTES,
      defaultRecipients: defaults,
      available: (c) => c !== 'sms',
    });
    expect(routing.route('critical', 'system').map((r) => r.channel)).toEqual(['email', 'slack', 'dashboard']);
  });

  it('invalid routing configuration fails startup with a clear message per problem', () => {
    expect(configProblems({ NODE_ENV: 'test', ALERT_ROUTES: '{not json' })).toEqual(['ALERT_ROUTES: not valid JSON']);
    expect(
      configProblems({ NODE_ENV: 'test', ALERT_ROUTES: JSON.stringify([{ severity: 'fatal', channels: ['pager'] }]) }),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ALERT_ROUTES\[0\.severity\]/),
        expect.stringMatching(/^ALERT_ROUTES\[0\.channels\.0\]/),
      ]),
    );
    expect(
      configProblems({
        NODE_ENV: 'test',
        ALERT_ROUTES: JSON.stringify([
          { severity: 'error', channels: ['slack'], recipients: { slack: ['nowhere'] } },
          { severity: 'error', channels: ['email'], recipients: { email: ['not-an-address'] } },
        ]),
      }),
    ).toEqual([
      'ALERT_ROUTES[0]: slack recipient "nowhere" is not a webhook name in ALERT_SLACK_WEBHOOKS',
      'ALERT_ROUTES[1]: a second row for error/*',
      'ALERT_ROUTES[1]: email recipient "not-an-address" must be an e-mail address or role:<name>',
    ]);
    expect(configProblems({ NODE_ENV: 'test', ALERT_SMS_TO: '0123' })).toEqual([
      'ALERT_SMS_TO: sms recipient "0123" must be an E.164 number or role:<name>',
    ]);
    expect(configProblems({ NODE_ENV: 'test', ALERT_SLACK_WEBHOOKS: 'ops=ftp://x' })).toEqual([
      'ALERT_SLACK_WEBHOOKS: "ops" is not an http(s) URL',
    ]);
  });

  it('loads a valid table with configured rows first and the defaults after', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      ALERT_SLACK_WEBHOOKS: 'ops=https://hooks.slack.com/services/T/B/X,sec=https://hooks.slack.com/services/T/B/Y',
      ALERT_ROUTES: JSON.stringify([
        { severity: 'critical', source: 'security', channels: ['slack'], recipients: { slack: ['sec'] } },
      ]),
    });
    expect(config.alerts.routes[0]).toEqual({
      severity: 'critical',
      source: 'security',
      channels: ['slack'],
      recipients: { slack: ['sec'] },
    });
    expect(config.alerts.routes.slice(1)).toEqual(DEFAULT_ROUTES);
    expect(config.alerts.defaultRecipients).toEqual({
      email: ['role:admin'],
      sms: ['role:admin'],
      slack: ['ops', 'sec'],
    });
    // Webhook URLs are credentials: never printed with the config.
    expect(JSON.stringify(config.alerts)).not.toContain('hooks.slack.com');
  });
});

describe('recipients by role', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('role:admin picks active admins only, and for SMS only those with a verified phone', async () => {
    const verified = await createUser(t, 'Verified.Admin@example.com', 'admin');
    const unverified = await createUser(t, 'unverified.admin@example.com', 'admin');
    const disabled = await createUser(t, 'disabled.admin@example.com', 'admin');
    await createUser(t, 'manager@example.com', 'manager');
    const User = t.container.models.User;
    const setPhone = async (
      id: string,
      phone: string,
      phoneVerified: boolean,
      status: 'active' | 'disabled' = 'active',
    ) => {
      const u = (await User.findById(id))!;
      u.phone = phone;
      u.phoneVerified = phoneVerified;
      u.status = status;
      await u.save();
    };
    await setPhone(verified, '+15550003333', true);
    await setPhone(unverified, '+15550004444', false);
    await setPhone(disabled, '+15550005555', true, 'disabled');
    // Stored encrypted: the resolver reads it through the model, not the raw document.
    const raw = await t.container.database
      .db()
      .collection('users')
      .findOne({ _id: verified as never });
    expect(JSON.stringify(raw)).not.toContain('+15550003333');

    const { RecipientResolver } = await import('../../../src/services/alerts/routing');
    const resolver = new RecipientResolver({ users: User });
    expect(await resolver.resolve('sms', ['role:admin', '+15550009999'])).toEqual(['+15550003333', '+15550009999']);
    expect((await resolver.resolve('email', ['role:admin', 'Extra@Example.com'])).sort()).toEqual([
      'extra@example.com',
      'unverified.admin@example.com',
      'verified.admin@example.com',
    ]);
    expect(await resolver.resolve('email', ['role:auditor'])).toEqual([]);
  });
});

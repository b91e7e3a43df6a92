import type { MongoOutageResult } from './support/mongo-outage';
import { SERVER_SELECTION_TIMEOUT_MS } from './support/mongo-outage';
import { statusCounts } from './support/load';
import { recordFigures } from './support/report';

/**
 * What a MongoDB outage must look like to clients, whatever its length: only 200 or 503
 * problem+json (never a 500, never a dropped connection), no request held much longer than
 * the configured server-selection timeout, readiness 503 while down, the health alert sent
 * to Slack and mail and stored afterwards, and data requests answered again within 10 s of
 * the restart, all without restarting the app.
 */
export function expectMongoOutageHandled(scenario: string, r: MongoOutageResult): void {
  const data = r.samples.filter((s) => s.path !== '/health/ready');
  const during = data.filter((s) => s.at > r.stoppedAt && s.at < r.restartedAt);
  const summary = JSON.stringify({
    all: statusCounts(r.samples),
    during: statusCounts(during),
    recoveredAfterMs: r.recoveredAfterMs,
    maxMs: Math.max(...r.samples.map((s) => s.durationMs)),
    failureLogs: r.failureLogs.map((l) => l.slice(0, 600)),
  });
  recordFigures(scenario, {
    outageMs: r.restartedAt - r.stoppedAt,
    statuses: statusCounts(r.samples),
    during: statusCounts(during),
    slowestMs: Math.max(...r.samples.map((s) => s.durationMs)),
    slowest503Ms: Math.max(0, ...r.samples.filter((s) => s.status === 503).map((s) => s.durationMs)),
    recoveredAfterMs: r.recoveredAfterMs,
    slackMessages: r.slackTexts.length,
    mails: r.mailSubjects.length,
  });
  // Only answered requests, only 200/503.
  expect({ summary, bad: r.samples.filter((s) => s.status !== 200 && s.status !== 503).slice(0, 5) }).toEqual({
    summary,
    bad: [],
  });
  for (const s of r.samples.filter((x) => x.status === 503)) {
    expect(s.contentType).toMatch(/^application\/(problem|health)\+json/);
    const body = JSON.parse(s.body) as { status: unknown };
    expect(body.status).toBe(s.path === '/health/ready' ? 'fail' : 503);
  }
  // Quick: bounded by the server-selection timeout, with slack for a loaded 2-core machine.
  const slowest = Math.max(...r.samples.map((s) => s.durationMs));
  expect({ summary, slowest: slowest <= SERVER_SELECTION_TIMEOUT_MS + 3_000 }).toEqual({ summary, slowest: true });
  // Most data requests while down were refused (the first ones may have been in flight before the stop).
  expect(during.filter((s) => s.status === 503).length).toBeGreaterThan(0);
  expect(r.restartedAt - r.stoppedAt).toBeGreaterThan(2 * SERVER_SELECTION_TIMEOUT_MS + 1_000);
  // Once the driver had time to notice, nothing waits for the database to come back (no queueing).
  // (A request that began within one selection timeout of the restart may rightly find the server back.)
  const settled = during.filter(
    (s) =>
      s.at > r.stoppedAt + SERVER_SELECTION_TIMEOUT_MS && s.at < r.restartedAt - SERVER_SELECTION_TIMEOUT_MS - 1_000,
  );
  expect({
    summary,
    notRefused: settled.filter((s) => s.status !== 503).map((s) => [s.at, s.durationMs, s.status]),
  }).toEqual({
    summary,
    notRefused: [],
  });
  expect(r.readyDuringOutage.length).toBeGreaterThan(0);
  expect(new Set(r.readyDuringOutage)).toEqual(new Set([503]));
  // The alert, sent directly while the database was down.
  const reached = (texts: string[]) => texts.some((t) => /mongodb/i.test(t));
  expect({ slack: reached(r.slackTexts), mail: reached(r.mailSubjects), alertLogs: r.alertLogs }).toEqual({
    slack: true,
    mail: true,
    alertLogs: r.alertLogs,
  });
  expect(r.alertsStoredAfter.some((a) => a.subject.includes('mongodb'))).toBe(true);
  // Recovery by itself.
  expect(r.recoveredAfterMs).toBeLessThan(10_000);
}

/**
 * Baseline server: bare Express 5 routes answering what the app's routes answer, with none
 * of the middleware. Run as its own process (app-process.ts startBareExpress); prints its port.
 */
import express from 'express';

const app = express();
app.set('etag', false);
const session = { userId: 'u', role: 'user', department: null, mfa: true, enrollmentRequired: false, kind: 'user' };
app.get('/api/v1/auth/session', (_req, res) => {
  res.json(session);
});
const live = JSON.stringify({ status: 'pass' });
app.get('/health/live', (_req, res) => {
  res.status(200).type('application/health+json').send(live);
});
const server = app.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));

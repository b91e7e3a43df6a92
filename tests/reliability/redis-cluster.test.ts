import request from 'supertest';
import type { Express } from 'express';
import { Cluster } from 'ioredis';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { listen, SseClient } from '../support/alerts';
import { bearer, createUser, login, mfaSession, PASSWORD } from '../support/users';
import { enrollTotp, oathtool, passwordStep } from '../support/two-factor';
import { probe, startRedisCluster, type ClusterTopology } from '../support/redis-topologies';
import { waitFor } from '../support/wait';
import { createContainer, type Container } from '../../src/container';
import { createApp } from '../../src/app';

const TWILIO_SID = 'AC' + '6'.repeat(32);
const GENERAL_LIMIT = 12;

/**
 * The app on a real three-master Redis Cluster (REDIS_CLUSTER_NODES), as two app processes
 * (two containers on the same cluster and database): every Redis feature works across
 * slots and nodes. A multi-key script or transaction over keys of different slots would be
 * refused by the cluster (CROSSSLOT) and surface here as a 5xx or a failed step.
 */
describe('Redis Cluster (three masters): functional smoke', () => {
  let cluster: ClusterTopology;
  let s: SenderTestApp;
  let other: Container;
  let appB: Express;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    s = await buildAppWithSenders(__filename, TWILIO_SID, {
      ...cluster.env,
      RATE_LIMIT_GENERAL: `${GENERAL_LIMIT}/600`,
      TRUST_PROXY: '1',
    });
    other = createContainer(s.t.config, s.t.logger, { now: s.clock.now });
    await other.start();
    appB = createApp(other.deps);
  }, 120_000);
  afterAll(async () => {
    await other?.stop();
    await s?.close();
    await cluster?.stop();
  });

  const me = (app: Express, token: string) =>
    request(app)
      .get('/api/v1/auth/me')
      .set(...bearer(token));

  it('when the app is configured with REDIS_CLUSTER_NODES, then its client is a Cluster and its keys spread over the masters', async () => {
    expect(s.t.container.redis).toBeInstanceOf(Cluster);
    expect(other.redis).toBeInstanceOf(Cluster);
    await createUser(s.t, 'spread@cluster.example');
    // Sign-ins from several addresses: rate-limit, guard and session keys for each.
    for (let i = 1; i <= 6; i++)
      expect((await login(s.t, 'spread@cluster.example', PASSWORD, `198.51.100.${i}`)).status).toBe(200);
    const perNode = await Promise.all(
      cluster.nodes.map((n) => probe(n.port, async (r) => (await r.keys(`${s.t.redisPrefix}*`)).length)),
    );
    expect(perNode.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });

  it('when one client sends more than the general limit through both processes, then exactly the limit passes and the rest get 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < GENERAL_LIMIT + 3; i++) {
      const app = i % 2 === 0 ? s.t.app : appB;
      statuses.push((await request(app).get('/api/v1/nowhere').set('X-Forwarded-For', '203.0.113.77')).status);
    }
    expect(statuses.filter((c) => c === 404)).toHaveLength(GENERAL_LIMIT);
    expect(statuses.slice(GENERAL_LIMIT)).toEqual([429, 429, 429]);
  });

  it('when a session is revoked through one process, then its token is refused by both, and another session lives on', async () => {
    await createUser(s.t, 'revoke@cluster.example');
    const out = (await login(s.t, 'revoke@cluster.example')).body.accessToken as string;
    const keep = (await login(s.t, 'revoke@cluster.example')).body.accessToken as string;
    for (const app of [s.t.app, appB]) expect((await me(app, out)).status).toBe(200);
    expect(
      (
        await request(appB)
          .post('/api/v1/auth/logout')
          .set(...bearer(out))
      ).status,
    ).toBe(204);
    for (const app of [s.t.app, appB]) {
      expect((await me(app, out)).status).toBe(401);
      expect((await me(app, keep)).status).toBe(200);
    }
  });

  it('when wrong passwords come from one address, then the guard delays that pair and a right password still signs in from another address', async () => {
    await createUser(s.t, 'guess@cluster.example');
    const statuses: number[] = [];
    // A stopped clock: the growing delay is decided in Redis against the app's time, not the machine's speed.
    s.clock.freeze();
    try {
      for (let i = 0; i < 5; i++)
        statuses.push((await login(s.t, 'guess@cluster.example', 'wrong-password-123456', '192.0.2.10')).status);
    } finally {
      s.clock.thaw();
    }
    // Three free failures (401), then the pair must wait (429).
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect((await login(s.t, 'guess@cluster.example', PASSWORD, '192.0.2.11')).status).toBe(200);
  });

  it('when a TOTP code is replayed, then it is refused as already used (single-use) and the next code signs in', async () => {
    const { secret, enableCode } = await enrollTotp(s, 'totp@cluster.example');
    const verify = (app: Express, mfaToken: string, code: string) =>
      request(app).post('/api/v1/auth/2fa/verify').send({ mfaToken, method: 'totp', code });
    const replay = await verify(appB, await passwordStep(s.t, 'totp@cluster.example'), enableCode);
    expect(replay.status).toBe(401);
    expect(replay.body.type).toMatch(/\/code-already-used$/);

    s.clock.advance(30_000);
    const code = oathtool(secret, s.clock.now());
    expect((await verify(s.t.app, await passwordStep(s.t, 'totp@cluster.example'), code)).status).toBe(200);
    const again = await verify(appB, await passwordStep(s.t, 'totp@cluster.example'), code);
    expect(again.status).toBe(401);
    expect(again.body.type).toMatch(/\/code-already-used$/);
  });

  it('when process A raises an alert, then a client of the stream on process B receives it through cluster pub/sub', async () => {
    const server = await listen(appB);
    const client = new SseClient();
    try {
      const [name, value] = bearer(await mfaSession(s.t, await createUser(s.t, 'ops@cluster.example', 'admin')));
      await client.open(`${server.url}/api/v1/alerts/stream`, { [name]: value });
      expect(client.status).toBe(200);
      const raised = await s.t.container.deps.operations.alerts.raise({
        source: 'system',
        kind: 'cluster.test',
        subject: 'pubsub',
        severity: 'critical',
        title: 'Raised on process A',
        message: 'Travels to process B over Redis Cluster pub/sub.',
      });
      await waitFor(() => client.events.some((e) => e.event === 'raised'), 20_000, 'the raised event on process B');
      const event = client.events.find((e) => e.event === 'raised')!;
      expect(JSON.parse(event.data)).toMatchObject({ id: raised.id, status: 'open' });
    } finally {
      client.close();
      await server.stop();
    }
  });
});

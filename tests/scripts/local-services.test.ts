import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { ensureMongo, freePort, type LocalService } from '../../scripts/local-services';
import { testMongoUri, testRedisUrl } from '../support/env';
import { runTs } from '../support/process';

describe('local services of npm run dev', () => {
  let foreign: net.Server;
  let started: LocalService | undefined;
  afterAll(async () => {
    await started?.stop?.();
    await new Promise((resolve) => foreign?.close(resolve));
  });

  it('when another process already listens on the preferred port, then its own server starts elsewhere and is the one reused next time', async () => {
    // Some other program (another checkout's FerretDB, anything) holds the dev port.
    const port = await freePort();
    foreign = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => foreign.listen(port, '127.0.0.1', resolve));
    const dataDir = mkdtempSync(path.join(tmpdir(), 'erp-dev-'));

    started = await ensureMongo({}, { dataDir, port, reuseOwn: true });
    const startedPort = Number(new URL(started.url).port);
    expect(startedPort).not.toBe(port);
    expect(started.description).toMatch(new RegExp(`port ${port} is in use by another process`));
    expect(existsSync(path.join(dataDir, 'server.json'))).toBe(true);
    const conn = await mongoose.createConnection(started.url + 'local_services_probe').asPromise();
    expect((await conn.db!.admin().ping()).ok).toBe(1);
    await conn.close();

    const again = await ensureMongo({}, { dataDir, port, reuseOwn: true });
    expect(again.url).toBe(started.url);
    expect(again.pid).toBe(started.pid);
    expect(again.description).toMatch(/started by an earlier run/);
  }, 60_000);

  it('when the dev script has chosen its servers, then it records their URLs for npm run cli and prints the exports', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'erp-dev-')), 'nested', 'local-services.json');
    const env = { MONGODB_URI: testMongoUri('erp'), REDIS_URL: testRedisUrl(), LOCAL_SERVICES_FILE: file };
    const proc = runTs('scripts/local-services-cli.ts', env);
    expect(await proc.exited).toBe(0);
    expect(proc.stdout()).toContain(`export MONGODB_URI='${env.MONGODB_URI}'`);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ mongodbUri: env.MONGODB_URI, redisUrl: env.REDIS_URL });
  }, 30_000);
});

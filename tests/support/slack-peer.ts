import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackRequest {
  path: string;
  contentType: string | undefined;
  body: Record<string, unknown>;
  at: number;
}

/**
 * A loopback HTTP server that answers like a Slack incoming webhook (`200 ok`), keeping
 * every JSON body. `failNext(n)` answers 500 to the next n posts; `hang(true)` never answers.
 */
export async function startSlackPeer(): Promise<{
  url: (name?: string) => string;
  requests: SlackRequest[];
  failNext: (n: number) => void;
  hang: (on: boolean) => void;
  stop: () => Promise<void>;
}> {
  const requests: SlackRequest[] = [];
  let failures = 0;
  let hanging = false;
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString('utf8')));
    req.on('end', () => {
      if (hanging) {
        open.add(res);
        return;
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        res.writeHead(400).end('invalid_payload');
        return;
      }
      if (failures > 0) {
        failures--;
        res.writeHead(500, { 'content-type': 'text/plain' }).end('internal_error');
        return;
      }
      requests.push({ path: req.url ?? '', contentType: req.headers['content-type'], body, at: Date.now() });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name = 'ops') => `http://127.0.0.1:${port}/services/T000/${name}`,
    requests,
    failNext: (n) => (failures = n),
    hang: (on) => (hanging = on),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

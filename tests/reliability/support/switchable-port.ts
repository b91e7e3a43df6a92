import net from 'node:net';
import { freePort } from '../../../scripts/local-services';

/**
 * A fixed 127.0.0.1 port that forwards to a peer while up and refuses connections while
 * down (nothing listens): a dependency that goes away and comes back at the same address,
 * as a restarted SMTP relay or webhook endpoint does.
 */
export interface SwitchablePort {
  port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function switchablePort(targetPort: number): Promise<SwitchablePort> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const up = async (): Promise<void> => {
    if (server) return;
    const s = net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
      sockets.add(client).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    server = s;
  };
  const down = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await up();
  return { port, up, down, close: down };
}

/** `url` with its port replaced. */
export function withPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
}

import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import bcrypt from 'bcrypt';
import { ConcurrencyLimit } from '../../lib/concurrency-limit';

/** Longest password accepted anywhere (policy documents it); far above bcrypt's 72-byte input. */
export const MAX_PASSWORD_LENGTH = 128;
const DOMAIN = 'erp-backend password prehash v1';
/** Characters as people count them (code points), the same count the password policy uses: `.length` counts an emoji twice. */
const characters = (s: string): number => [...s].length;

/**
 * bcrypt with an HMAC-SHA256 pre-hash: the password (any length up to the maximum) is
 * first reduced to 32 bytes, base64 (44 chars), so bcrypt's silent truncation at 72
 * bytes never applies and two long passwords sharing a prefix never collide. The
 * optional pepper (a server secret) keys the HMAC; without one a fixed domain label does.
 */
export class PasswordHasher {
  /** The pepper as a KeyObject, so the hasher never holds (or prints) the raw secret. */
  private readonly pepper: KeyObject | undefined;
  /** bcrypt runs on the libuv pool; capped so hashes never take every core from the event loop. */
  private readonly limit: ConcurrencyLimit | undefined;

  constructor(
    readonly cost: number,
    pepper?: Buffer,
    /** Hashes and comparisons in flight at once; the rest queue (undefined: no cap). */
    maxConcurrent?: number,
  ) {
    if (!Number.isInteger(cost) || cost < 10 || cost > 15)
      throw new Error('bcrypt cost must be an integer from 10 to 15');
    this.pepper = pepper === undefined ? undefined : createSecretKey(pepper);
    this.limit = maxConcurrent === undefined ? undefined : new ConcurrencyLimit(maxConcurrent);
  }

  /** Hashes and comparisons running and queued now (both 0 running when uncapped: not tracked). */
  get load(): { running: number; waiting: number } {
    return this.limit?.load ?? { running: 0, waiting: 0 };
  }

  private limited<T>(task: () => Promise<T>): Promise<T> {
    return this.limit ? this.limit.run(task) : task();
  }

  [inspect.custom](): string {
    return `PasswordHasher(bcrypt cost ${this.cost}${this.pepper ? ', peppered' : ''})`;
  }

  private prehash(password: string): string {
    if (characters(password) > MAX_PASSWORD_LENGTH)
      throw new Error(`password longer than ${MAX_PASSWORD_LENGTH} characters`);
    return createHmac('sha256', this.pepper ?? DOMAIN)
      .update(password, 'utf8')
      .digest('base64');
  }

  async hash(password: string): Promise<string> {
    const prehashed = this.prehash(password);
    return this.limited(() => bcrypt.hash(prehashed, this.cost));
  }

  /** Works for hashes of any cost, so raising the cost later keeps old hashes valid. */
  async verify(password: string, hash: string): Promise<boolean> {
    if (characters(password) > MAX_PASSWORD_LENGTH) return false;
    const prehashed = this.prehash(password);
    return this.limited(() => bcrypt.compare(prehashed, hash));
  }

  needsRehash(hash: string): boolean {
    return bcrypt.getRounds(hash) !== this.cost;
  }
}

import {
  createHmac,
  hkdfSync,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  type KeyObject,
  createSecretKey,
} from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { ApiKeyDoc, ApiKeyModel } from '../../models/api-key.model';
import type { AuditTrail } from '../audit/audit-trail';
import type { SingleUseClaims } from '../auth/single-use-claims';
import type { VersionedWriter } from '../versioning/versioned-writer';

export interface ApiKeyServiceDeps {
  keys: ApiKeyModel;
  audit: AuditTrail;
  /** Decides which of two concurrent rotations of one key wins. */
  claims: SingleUseClaims;
  /**
   * Every change of a key record (last use, revocation, rotation) goes through it: FerretDB 1.x
   * writes an updated document back whole, so two unserialised updates of different fields
   * can undo each other (a lastUsedAt refresh could un-revoke a key).
   */
  writer: VersionedWriter;
  /** Secret from which the API-key HMAC key is derived (HKDF, its own label). */
  secret: Buffer;
  /** Permissions the owner may delegate to a key (the owner's effective grants). */
  grantsOf: (ownerRole: string) => Promise<Set<string>>;
  now?: () => Date;
  /** Longest lifetime a key may be given. */
  maxLifetimeDays?: number;
  /** How often lastUsedAt is written at most (a write per request would cost more than the check). */
  lastUsedResolutionMs?: number;
}

export interface CreatedApiKey {
  id: string;
  /** The full key: shown once, never stored. */
  key: string;
  prefix: string;
  name: string;
  scopes: string[];
  expiresAt: Date;
}

export interface VerifiedApiKey {
  id: string;
  ownerId: string;
  scopes: string[];
}

/** A key as its owner sees it: `id` like every other resource, never the stored hashes. */
export type PublicApiKey = Omit<ApiKeyDoc, '_id' | 'hash' | 'previousHash'> & { id: string };

const REVOKE_ATTEMPTS = 5;
const KEY_PATTERN = /^erp_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/**
 * API keys for machine clients: `erp_<prefix>_<secret>`. The prefix is public and finds
 * the record; only an HMAC-SHA256 of the key is stored (high-entropy keys need no slow
 * hash, and verification stays in microseconds); comparison is constant-time.
 */
export class ApiKeyService {
  private readonly hmacKey: KeyObject;
  private readonly now: () => Date;

  private readonly deps: Omit<ApiKeyServiceDeps, 'secret'>;

  constructor({ secret, ...deps }: ApiKeyServiceDeps) {
    // Only the derived KeyObject is kept, never the secret itself.
    this.deps = deps;
    this.hmacKey = createSecretKey(
      Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'erp-backend api-key hmac v1', 32)),
    );
    this.now = deps.now ?? (() => new Date());
  }

  private hash(key: string): string {
    return createHmac('sha256', this.hmacKey).update(key).digest('hex');
  }

  private newSecret(prefix: string): string {
    return `erp_${prefix}_${randomBytes(32).toString('base64url')}`;
  }

  async create(input: {
    ownerId: string;
    ownerRole: string;
    name: string;
    scopes: string[];
    expiresAt: Date;
  }): Promise<CreatedApiKey> {
    const grants = await this.deps.grantsOf(input.ownerRole);
    const notHeld = input.scopes.filter((s) => !grants.has(s));
    if (notHeld.length)
      throw AppError.forbidden(`You cannot delegate permissions you do not hold: ${notHeld.join(', ')}.`, {
        scopes: notHeld,
      });
    const now = this.now();
    const maxMs = (this.deps.maxLifetimeDays ?? 365) * 86_400_000;
    if (input.expiresAt.getTime() <= now.getTime()) throw AppError.badRequest('expiresAt must be in the future.');
    if (input.expiresAt.getTime() - now.getTime() > maxMs)
      throw AppError.badRequest(`expiresAt must be within ${this.deps.maxLifetimeDays ?? 365} days.`);
    const prefix = randomBytes(9).toString('base64url').replace(/[-_]/g, '0').slice(0, 12);
    const key = this.newSecret(prefix);
    const id = randomUUID();
    await this.deps.keys.create({
      _id: id,
      prefix,
      hash: this.hash(key),
      previousHash: null,
      previousValidUntil: null,
      ownerId: input.ownerId,
      name: input.name,
      scopes: [...new Set(input.scopes)].sort(),
      expiresAt: input.expiresAt,
      lastUsedAt: null,
      revokedAt: null,
    });
    await this.deps.audit.record({
      action: 'apikey.created',
      outcome: 'succeeded',
      actorId: input.ownerId,
      resource: 'apikey',
      resourceId: id,
      details: { scopes: input.scopes },
    });
    return { id, key, prefix, name: input.name, scopes: [...new Set(input.scopes)].sort(), expiresAt: input.expiresAt };
  }

  /**
   * Checks a presented key. Unknown, malformed, expired, revoked or wrong keys all give
   * the same 401, so a caller learns nothing about which prefixes exist.
   */
  async verify(presented: string): Promise<VerifiedApiKey> {
    const invalid = AppError.unauthorized('The API key is invalid, expired or revoked.', 'invalid-api-key');
    const m = KEY_PATTERN.exec(presented);
    if (!m) throw invalid;
    const doc = await this.deps.keys.findOne({ prefix: m[1] }).lean();
    const now = this.now();
    const matches = (stored: string | null): boolean => stored !== null && this.matchesHash(presented, stored);
    if (!doc) throw invalid;
    const current = matches(doc.hash);
    const previous =
      !current && doc.previousValidUntil !== null && doc.previousValidUntil > now && matches(doc.previousHash);
    if ((!current && !previous) || doc.revokedAt !== null || doc.expiresAt <= now) throw invalid;
    const resolution = this.deps.lastUsedResolutionMs ?? 60_000;
    if (!doc.lastUsedAt || now.getTime() - doc.lastUsedAt.getTime() >= resolution) {
      // Best effort: losing to a concurrent change (another request's refresh, a revocation) skips it.
      await this.deps.writer.update(this.deps.keys, doc, { lastUsedAt: now }, 'API key').catch((err: unknown) => {
        if (!(err instanceof AppError && err.status === 409)) throw err;
      });
    }
    return { id: doc._id, ownerId: doc.ownerId, scopes: doc.scopes };
  }

  /** The CPU part of a verification: HMAC the presented key and compare in constant time. */
  matchesHash(presented: string, storedHex: string): boolean {
    const stored = Buffer.from(storedHex, 'hex');
    const computed = Buffer.from(this.hash(presented), 'hex');
    return stored.length === computed.length && timingSafeEqual(stored, computed);
  }

  /** The stored form of a key (for benchmarks and migrations). */
  hashForStorage(key: string): string {
    return this.hash(key);
  }

  async list(ownerId: string): Promise<PublicApiKey[]> {
    const docs = await this.deps.keys.find({ ownerId }, { hash: 0, previousHash: 0 }).sort({ createdAt: -1 }).lean();
    return docs.map(({ _id, ...k }) => ({ id: _id, ...k }));
  }

  /** Revokes one of the owner's keys (admins may pass anyOwner). 404 for keys outside reach. */
  async revoke(id: string, actor: { userId: string; anyOwner: boolean }): Promise<void> {
    const filter = actor.anyOwner ? { _id: id } : { _id: id, ownerId: actor.userId };
    // A revocation must not fail because a request was refreshing lastUsedAt at that moment: retry briefly.
    for (let attempt = 1; ; attempt++) {
      const doc = await this.deps.keys.findOne({ ...filter, revokedAt: null }).lean();
      if (!doc) throw AppError.notFound('No such API key.');
      try {
        await this.deps.writer.update(this.deps.keys, doc, { revokedAt: this.now() }, 'API key');
        break;
      } catch (err) {
        if (!(err instanceof AppError && err.code === 'stale-version') || attempt >= REVOKE_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, 10 * attempt));
      }
    }
    await this.deps.audit.record({
      action: 'apikey.revoked',
      outcome: 'succeeded',
      actorId: actor.userId,
      resource: 'apikey',
      resourceId: id,
    });
  }

  /**
   * Issues a new secret for the same key record; the old one keeps working for
   * `overlapSeconds` so clients can be redeployed without an outage.
   */
  async rotate(
    id: string,
    actor: { userId: string; anyOwner: boolean },
    overlapSeconds: number,
  ): Promise<CreatedApiKey> {
    const filter = actor.anyOwner ? { _id: id } : { _id: id, ownerId: actor.userId };
    const doc = await this.deps.keys.findOne({ ...filter, revokedAt: null }).lean();
    if (!doc || doc.expiresAt <= this.now()) throw AppError.notFound('No such API key.');
    const key = this.newSecret(doc.prefix);
    const validUntil = new Date(this.now().getTime() + overlapSeconds * 1000);
    // One rotation per current secret: a unique claim decides (a conditional update alone is
    // read-then-write on FerretDB, so two rotations could both "win" and one key be lost).
    const won = await this.deps.claims.claim(`apikey-rotate:${id}:${doc.hash}`, doc.expiresAt);
    if (!won) throw AppError.conflict('The key was rotated concurrently; try again.');
    // Through the writer too, so the rotation cannot overwrite a concurrent revocation (409 instead).
    try {
      await this.deps.writer.update(
        this.deps.keys,
        doc,
        { hash: this.hash(key), previousHash: doc.hash, previousValidUntil: validUntil },
        'API key',
      );
    } catch (err) {
      // Nothing rotated: the secret may be rotated again.
      await this.deps.claims.release(`apikey-rotate:${id}:${doc.hash}`);
      throw err;
    }
    await this.deps.audit.record({
      action: 'apikey.rotated',
      outcome: 'succeeded',
      actorId: actor.userId,
      resource: 'apikey',
      resourceId: id,
      details: { overlapSeconds },
    });
    return { id, key, prefix: doc.prefix, name: doc.name, scopes: doc.scopes, expiresAt: doc.expiresAt };
  }
}

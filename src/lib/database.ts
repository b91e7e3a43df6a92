import mongoose, { type Connection, type ConnectOptions } from 'mongoose';
import type { Db } from 'mongodb';
import type { Logger } from './logger';
import type { Config } from '../config';

/** The pool and timeout settings from config, plus whether schemas build their own indexes. */
export type DatabaseOptions = Omit<Config['mongodb'], 'syncIndexesOnBoot'> & {
  /** Build indexes lazily from schemas; off in production, where syncIndexes() runs explicitly. */
  autoIndex: boolean;
};

/** What the driver's monitoring events have told us; read by health checks. */
export interface PoolStatus {
  connectionsCreated: number;
  connectionsClosed: number;
  checkedOut: number;
  checkOutFailures: number;
  lastHeartbeat?: { ok: boolean; durationMS: number; at: Date };
}

export interface CollectionStats {
  name: string;
  count: number;
  sizeBytes: number;
  storageSizeBytes: number;
  indexes: number;
}

export interface DatabaseStats {
  db: string;
  collections: number;
  objects: number;
  dataSizeBytes: number;
  storageSizeBytes: number;
  indexSizeBytes: number;
  perCollection: CollectionStats[];
}

/**
 * The MongoDB connection of the process. Uses its own mongoose Connection (not the
 * global default one) so tests can open several, each on its own database.
 */
export class Database {
  readonly connection: Connection;
  readonly pool: PoolStatus = { connectionsCreated: 0, connectionsClosed: 0, checkedOut: 0, checkOutFailures: 0 };
  private readonly log: Logger;

  constructor(
    private readonly opts: DatabaseOptions,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'mongodb' });
    const options: ConnectOptions = {
      minPoolSize: opts.minPoolSize,
      maxPoolSize: opts.maxPoolSize,
      serverSelectionTimeoutMS: opts.serverSelectionTimeoutMS,
      socketTimeoutMS: opts.socketTimeoutMS,
      ...(opts.waitQueueTimeoutMS > 0 ? { waitQueueTimeoutMS: opts.waitQueueTimeoutMS } : {}),
      heartbeatFrequencyMS: opts.heartbeatFrequencyMS,
      monitorCommands: opts.monitorCommands,
      retryWrites: true,
      writeConcern: { w: 'majority' },
      autoIndex: opts.autoIndex,
      autoCreate: opts.autoIndex,
      // Replica set name, TLS etc. come through the URI; a readPreference other than primary is refused (config).
    };
    this.connection = mongoose.createConnection(opts.uri.reveal(), options);
    this.connection.on('error', (err: Error) => this.log.error({ err }, 'mongodb connection error'));
    this.connection.on('disconnected', () => this.log.warn('mongodb disconnected'));
    this.connection.on('reconnected', () => this.log.info('mongodb reconnected'));
    this.observeDriver();
  }

  /** Resolves once the initial connection is up; rejects after serverSelectionTimeoutMS. */
  async connect(): Promise<void> {
    await this.connection.asPromise();
    this.log.info({ db: this.connection.name, host: redactUri(this.opts.uri.reveal()) }, 'mongodb connected');
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  /** The driver's Db handle; throws before connect(). */
  db(): Db {
    const db = this.connection.db;
    if (!db) throw new Error('mongodb is not connected');
    return db;
  }

  /** A `ping` that gives up after timeoutMs, for readiness checks. */
  async ping(timeoutMs: number): Promise<number> {
    const started = performance.now();
    const db = this.connection.db;
    if (!db || this.connection.readyState !== 1) throw new Error('mongodb is not connected');
    await withTimeout(db.admin().ping({ timeoutMS: timeoutMs }), timeoutMs, 'mongodb ping');
    return performance.now() - started;
  }

  /** Creates the indexes every registered model declares (and drops none it does not know of). */
  async syncIndexes(): Promise<string[]> {
    const names = Object.keys(this.connection.models);
    for (const name of names) await this.connection.models[name].createIndexes();
    this.log.info({ models: names }, 'indexes synchronised');
    return names;
  }

  /** dbStats plus per-collection counts and sizes, for health and admin views. */
  async stats(): Promise<DatabaseStats> {
    const db = this.connection.db;
    if (!db) throw new Error('mongodb is not connected');
    const s = await db.stats();
    const perCollection: CollectionStats[] = [];
    const collections = await db.listCollections({}, { nameOnly: true }).toArray();
    for (const { name } of collections) {
      if (name.startsWith('system.')) continue;
      const cs = await db.command({ collStats: name }).catch(() => undefined);
      const count = cs?.count ?? (await db.collection(name).estimatedDocumentCount());
      perCollection.push({
        name,
        count: Number(count),
        sizeBytes: Number(cs?.size ?? 0),
        storageSizeBytes: Number(cs?.storageSize ?? 0),
        indexes: Number(cs?.nindexes ?? 0),
      });
    }
    perCollection.sort((a, b) => a.name.localeCompare(b.name));
    return {
      db: String(s.db),
      collections: Number(s.collections),
      objects: Number(s.objects),
      dataSizeBytes: Number(s.dataSize),
      storageSizeBytes: Number(s.storageSize),
      indexSizeBytes: Number(s.indexSize),
      perCollection,
    };
  }

  /** Connection monitoring: pool and heartbeat events, counted for health and logged at fitting levels. */
  private observeDriver(): void {
    const client = this.connection.getClient();
    client.on('connectionCreated', () => {
      this.pool.connectionsCreated++;
    });
    client.on('connectionClosed', (ev) => {
      this.pool.connectionsClosed++;
      this.log.debug({ reason: ev.reason }, 'mongodb pool connection closed');
    });
    client.on('connectionCheckedOut', () => {
      this.pool.checkedOut++;
    });
    client.on('connectionCheckedIn', () => {
      this.pool.checkedOut = Math.max(0, this.pool.checkedOut - 1);
    });
    client.on('connectionCheckOutFailed', (ev) => {
      this.pool.checkOutFailures++;
      this.log.warn({ reason: ev.reason }, 'mongodb pool check-out failed');
    });
    client.on('connectionPoolCleared', () => this.log.warn('mongodb pool cleared'));
    client.on('serverHeartbeatSucceeded', (ev) => {
      this.pool.lastHeartbeat = { ok: true, durationMS: ev.duration, at: new Date() };
    });
    client.on('serverHeartbeatFailed', (ev) => {
      this.pool.lastHeartbeat = { ok: false, durationMS: ev.duration, at: new Date() };
      this.log.warn({ connectionId: ev.connectionId, err: ev.failure }, 'mongodb heartbeat failed');
    });
    client.on('topologyDescriptionChanged', (ev) => {
      this.log.debug({ type: ev.newDescription.type }, 'mongodb topology changed');
    });
  }
}

export function redactUri(uri: string): string {
  return uri.replace(/\/\/([^@/]+)@/, '//***@');
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

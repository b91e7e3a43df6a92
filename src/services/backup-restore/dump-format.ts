/**
 * mongodump's `--gzip` directory format, written and read without the mongodump binary:
 * `dump/<db>/<escaped collection>.bson.gz` (concatenated BSON documents, one gzip stream) and
 * `<escaped collection>.metadata.json.gz` (canonical Extended JSON v2). Names and layout follow
 * mongo-tools 100.13.0 (`common/util/file.go`, `mongodump/prepare.go`, `mongodump/metadata_dump.go`).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BSON, type Document } from 'mongodb';

/** BSON's own limit is 16 MiB; mongodump documents may carry a little more (16 KiB of command overhead). */
export const MAX_BSON_DOCUMENT_BYTES = 16 * 1024 * 1024 + 16 * 1024;

/** Escaped names longer than this are truncated and suffixed with a hash, like mongodump does. */
const MAX_ESCAPED_NAME = 238;

const UNRESERVED = /^[A-Za-z0-9\-_.~]$/;

/**
 * Go's `url.QueryEscape`, which mongodump uses for file names: every byte outside
 * `A-Z a-z 0-9 - _ . ~` becomes `%XX` (upper-case hex, UTF-8 bytes), a space becomes `+`.
 */
export function escapeCollectionName(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (byte < 0x80 && UNRESERVED.test(ch)) out += ch;
    else if (byte === 0x20) out += '+';
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Go's `url.QueryUnescape` (what mongorestore applies to file names). Throws on a malformed escape. */
export function unescapeCollectionName(escaped: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    const ch = escaped[i]!;
    if (ch === '+') bytes.push(0x20);
    else if (ch === '%') {
      const hex = escaped.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`invalid escape in collection file name: ${escaped}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The file name stem mongodump uses for a collection: the escaped name, or for names whose escaped
 * form exceeds 238 bytes, its first 208 bytes + `%24` + base64url(SHA-1 of the name). The full name
 * is then only in the metadata file's `collectionName`.
 */
export function collectionFileStem(name: string): string {
  const escaped = escapeCollectionName(name);
  if (escaped.length <= MAX_ESCAPED_NAME) return escaped;
  const hash = createHash('sha1').update(name, 'utf8').digest('base64url');
  return escaped.slice(0, 208) + '%24' + hash;
}

/** True when a stem is a truncated long name (the real name must be read from the metadata). */
export function isTruncatedStem(stem: string): boolean {
  return stem.length === MAX_ESCAPED_NAME && stem.includes('%24');
}

/** Relative paths of a collection's two files in a `--gzip` dump. */
export function collectionPaths(db: string, collection: string): { bson: string; metadata: string } {
  const stem = collectionFileStem(collection);
  return { bson: `dump/${db}/${stem}.bson.gz`, metadata: `dump/${db}/${stem}.metadata.json.gz` };
}

/**
 * Options that keep every BSON type as it was (Int32 vs Double vs Long, Binary subtypes,
 * regex flags), so a document read from a dump is written back byte-for-byte equivalent.
 */
export const TYPE_PRESERVING: BSON.DeserializeOptions = {
  promoteValues: false,
  promoteLongs: false,
  promoteBuffers: false,
  bsonRegExp: true,
};

export function decodeDocument(raw: Uint8Array): Document {
  return BSON.deserialize(raw, TYPE_PRESERVING);
}

/** The canonical Extended JSON v2 text of one BSON document: what collection digests are made of. */
export function canonicalJson(raw: Uint8Array): string {
  return BSON.EJSON.stringify(decodeDocument(raw), { relaxed: false });
}

/**
 * SHA-256 over the canonical EJSON of each document, one per line, in the order given
 * (callers feed documents sorted by `_id`, so source and restored copy compare equal).
 */
export class DocumentDigest {
  private readonly hash = createHash('sha256');
  count = 0;
  update(raw: Uint8Array): void {
    this.hash.update(canonicalJson(raw));
    this.hash.update('\n');
    this.count++;
  }
  hex(): string {
    return this.hash.digest('hex');
  }
}

export class BsonFormatError extends Error {
  override name = 'BsonFormatError';
}

/**
 * Splits a byte stream into BSON documents by their little-endian int32 length prefix.
 * Holds at most one document (bounded by `maxBytes`) plus the current chunk; never the whole stream.
 * A document inside one chunk is yielded as a view of it; one spanning chunks is copied once
 * into a buffer of its announced length (linear in the bytes, whatever the chunk sizes).
 */
export async function* splitBsonDocuments(
  source: AsyncIterable<Uint8Array>,
  maxBytes = MAX_BSON_DOCUMENT_BYTES,
): AsyncGenerator<Buffer> {
  const prefix = Buffer.alloc(4);
  let prefixFill = 0;
  let doc: Buffer | undefined;
  let docFill = 0;
  let offset = 0; // start of the current document in the stream, for error messages

  const checkLength = (length: number): void => {
    if (length < 5 || length > maxBytes) {
      throw new BsonFormatError(`invalid BSON document length ${length} at byte ${offset}`);
    }
  };
  const finish = (d: Buffer): Buffer => {
    if (d[d.length - 1] !== 0) throw new BsonFormatError(`BSON document at byte ${offset} is not terminated`);
    offset += d.length;
    return d;
  };

  for await (const raw of source) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let pos = 0;
    while (pos < chunk.length) {
      if (!doc) {
        if (prefixFill === 0 && chunk.length - pos >= 4) {
          const length = chunk.readInt32LE(pos);
          checkLength(length);
          if (chunk.length - pos >= length) {
            const whole = chunk.subarray(pos, pos + length);
            pos += length;
            yield finish(whole);
            continue;
          }
          doc = Buffer.allocUnsafe(length);
          docFill = 0;
        } else {
          const n = Math.min(4 - prefixFill, chunk.length - pos);
          chunk.copy(prefix, prefixFill, pos, pos + n);
          prefixFill += n;
          pos += n;
          if (prefixFill < 4) continue;
          const length = prefix.readInt32LE(0);
          checkLength(length);
          doc = Buffer.allocUnsafe(length);
          prefix.copy(doc, 0);
          docFill = 4;
          prefixFill = 0;
        }
      }
      const n = Math.min(doc.length - docFill, chunk.length - pos);
      chunk.copy(doc, docFill, pos, pos + n);
      docFill += n;
      pos += n;
      if (docFill === doc.length) {
        const complete = doc;
        doc = undefined;
        yield finish(complete);
      }
    }
  }
  if (doc || prefixFill > 0) throw new BsonFormatError(`stream ends inside a BSON document at byte ${offset}`);
}

/** Turns documents (objects, or raw BSON bytes passed through as they are) into BSON bytes. */
export async function* serializeDocuments(
  source: AsyncIterable<Document | Uint8Array> | Iterable<Document | Uint8Array>,
): AsyncGenerator<Buffer> {
  for await (const doc of source) {
    if (doc instanceof Uint8Array) {
      yield Buffer.isBuffer(doc) ? doc : Buffer.from(doc.buffer, doc.byteOffset, doc.byteLength);
    } else {
      yield Buffer.from(BSON.serialize(doc));
    }
  }
}

/** The `<collection>.metadata.json` document mongodump writes (field order as mongodump's). */
export interface CollectionMetadata {
  options: Document;
  indexes: Document[];
  /** 32 lower-case hex characters, when the server gave the collection a UUID. */
  uuid?: string;
  collectionName: string;
  type?: string;
}

export function encodeMetadata(meta: CollectionMetadata): string {
  const doc: Document = { options: meta.options, indexes: meta.indexes };
  if (meta.uuid) doc.uuid = meta.uuid;
  doc.collectionName = meta.collectionName;
  if (meta.type) doc.type = meta.type;
  return BSON.EJSON.stringify(doc, { relaxed: false });
}

/** Parses a metadata file (ours or mongodump's); numbers keep their BSON types. */
export function parseMetadata(text: string, fallbackName: string): CollectionMetadata {
  const parsed: unknown = BSON.EJSON.parse(text, { relaxed: false });
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BsonFormatError('metadata is not a JSON object');
  }
  const doc = parsed as Document;
  const indexes: unknown = doc.indexes ?? [];
  if (!Array.isArray(indexes)) throw new BsonFormatError('metadata indexes is not an array');
  return {
    options: typeof doc.options === 'object' && doc.options !== null ? (doc.options as Document) : {},
    indexes: indexes as Document[],
    uuid: typeof doc.uuid === 'string' ? doc.uuid : undefined,
    collectionName: typeof doc.collectionName === 'string' ? doc.collectionName : fallbackName,
    type: typeof doc.type === 'string' ? doc.type : undefined,
  };
}

/** Index options the servers refuse on createIndexes (mongodump records them from listIndexes). */
const INDEX_OPTIONS_NOT_FOR_CREATE = new Set(['v', 'ns']);

/** Index specs ready for `createIndexes`, without `_id_` (created with the collection). */
export function indexSpecsForCreate(meta: CollectionMetadata): Document[] {
  return meta.indexes
    .filter((ix) => ix.name !== '_id_')
    .map((ix) => Object.fromEntries(Object.entries(ix).filter(([k]) => !INDEX_OPTIONS_NOT_FOR_CREATE.has(k))));
}

/** One collection found in a dump directory. */
export interface DumpEntry {
  db: string;
  collection: string;
  /** Paths relative to the backup directory. */
  bson: string;
  metadata?: string;
  gzip: boolean;
}

/**
 * Finds the collections of a plain mongodump directory: `<dir>/dump/<db>/` or `<dir>/<db>/` holding
 * `*.bson.gz` (or uncompressed `*.bson`). Long names are resolved through their metadata by the caller.
 */
export async function scanDumpDirectory(dir: string): Promise<DumpEntry[]> {
  const base = (await isDirectory(path.join(dir, 'dump'))) ? 'dump' : '.';
  const entries: DumpEntry[] = [];
  const dbs = (await fs.readdir(path.join(dir, base), { withFileTypes: true }))
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
  for (const db of dbs) {
    const files = (await fs.readdir(path.join(dir, base, db))).sort();
    for (const file of files) {
      const m = /^(.*)\.bson(\.gz)?$/.exec(file);
      if (!m) continue;
      const stem = m[1]!;
      const gzip = m[2] !== undefined;
      if (stem.startsWith('system.') || stem.startsWith('%24admin.')) continue;
      const metaFile = `${stem}.metadata.json${gzip ? '.gz' : ''}`;
      const rel = (f: string): string => path.posix.join(base === '.' ? '' : base, db, f);
      entries.push({
        db,
        collection: unescapeCollectionName(stem),
        bson: rel(file),
        metadata: files.includes(metaFile) ? rel(metaFile) : undefined,
        gzip,
      });
    }
  }
  return entries;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

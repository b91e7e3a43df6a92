import { Types, overwriteMiddlewareArguments, type Schema, type Query } from 'mongoose';
import { EncryptedFieldQueryError, PersistenceError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { DecryptionError } from './cipher';

/** What the plugin needs from the EncryptionService (kept narrow so models do not depend on the whole service). */
export interface FieldCipher {
  encrypt(plaintext: string, aad?: string): string;
  decrypt(stored: string, aad?: string): string;
  blindIndex(field: string, value: string): string;
}

export interface EncryptedFieldSpec {
  /** Top-level path holding the value (stored as a versioned ciphertext string). */
  path: string;
  /** Keep an HMAC blind index at `<path>Bidx` so the field can be matched by equality. */
  blindIndex?: boolean;
  /** Make the blind index unique (e.g. a national ID). */
  unique?: boolean;
}

/** A stored value that failed to decrypt: where it is, never what it holds. */
export interface UndecryptableValue {
  collection: string;
  id: string;
  path: string;
}

/** Remembered reports per process (then forgotten all at once): bounds memory, not correctness. */
const MAX_REMEMBERED_REPORTS = 10_000;

/**
 * Collects which collections hold which encrypted fields, for key rotation and usage counts.
 * Every encrypted value must be registered here, whether the plugin or a service encrypts
 * it, with associated data `aadFor(collection, _id, path)`: a value rotation cannot see
 * keeps its old key alive, and retiring that key would make it unreadable.
 *
 * It is also where the plugin reports a stored value it cannot decrypt: logged (at error
 * level, with collection, record id and path, never the ciphertext) and handed to
 * `onUndecryptable` (the alerting hook) once per value per process, so a list read on every
 * page view does not flood either.
 */
export class EncryptedFieldRegistry {
  readonly collections = new Map<string, string[]>();
  private readonly reported = new Set<string>();

  constructor(private readonly opts: { logger?: Logger; onUndecryptable?: (value: UndecryptableValue) => void } = {}) {}

  /** Adds paths (dotted for nested fields) to a collection's list. */
  register(collection: string, paths: string[]): void {
    this.collections.set(collection, [...new Set([...(this.collections.get(collection) ?? []), ...paths])]);
  }

  reportUndecryptable(value: UndecryptableValue): void {
    const key = aadFor(value.collection, value.id, value.path);
    if (this.reported.has(key)) return;
    if (this.reported.size >= MAX_REMEMBERED_REPORTS) this.reported.clear();
    this.reported.add(key);
    this.opts.logger?.error(
      { collection: value.collection, recordId: value.id, path: value.path },
      'stored value could not be decrypted',
    );
    try {
      this.opts.onUndecryptable?.({ ...value });
    } catch (err) {
      // The alerting hook must never turn a readable answer into a failed one.
      this.opts.logger?.error({ err }, 'onUndecryptable hook failed');
    }
  }
}

export interface FieldEncryptionOptions {
  cipher: FieldCipher;
  registry?: EncryptedFieldRegistry;
  /** Stable name bound into every ciphertext's associated data (`<collection>/<id>/<path>`). */
  collection: string;
  fields: EncryptedFieldSpec[];
}

export const blindIndexPath = (path: string): string => `${path}Bidx`;
/** Member a marked list item gets: the encrypted paths that could not be decrypted (their values are null). */
export const UNREADABLE = '_unreadable';
/**
 * `.lean(MARK_UNREADABLE)` on a `find`: a value that cannot be decrypted becomes null and
 * its path is listed under `_unreadable` on that document, instead of failing the whole
 * query. Only for lists that are shown, never for documents that are written back.
 */
export const MARK_UNREADABLE = Object.freeze({ markUnreadable: true });
const LOGICAL_OPERATORS = new Set(['$and', '$or', '$nor']);
export const aadFor = (collection: string, id: unknown, path: string): string => `${collection}/${String(id)}/${path}`;

type Plain = Record<string, unknown>;
const QUERY_HOOKS = [
  'find',
  'findOne',
  'countDocuments',
  'findOneAndUpdate',
  'findOneAndDelete',
  'updateOne',
  'updateMany',
  'deleteOne',
  'deleteMany',
  'distinct',
  'replaceOne',
] as const;
const UPDATE_HOOKS = ['findOneAndUpdate', 'updateOne', 'updateMany'] as const;
const LEAN_RESULT_HOOKS = ['find', 'findOne', 'findOneAndUpdate', 'findOneAndDelete'] as const;

/**
 * Marks fields of a schema as encrypted at rest. Values are encrypted on save, insertMany
 * and update queries (`updateOne`, `findOneAndUpdate`), decrypted when documents are
 * hydrated or read with `lean()`, and equality queries on a field are rewritten to its
 * HMAC blind index. The raw collection never holds the plaintext.
 */
export function fieldEncryption(schema: Schema, opts: FieldEncryptionOptions): void {
  const { cipher, collection, fields } = opts;
  const byPath = new Map(fields.map((f) => [f.path, f]));
  opts.registry?.register(
    collection,
    fields.map((f) => f.path),
  );

  for (const f of fields) {
    if (f.blindIndex) {
      // Not select:false: FerretDB refuses projections on findAndModify; reads strip it instead.
      schema.add({ [blindIndexPath(f.path)]: { type: String } });
      schema.index({ [blindIndexPath(f.path)]: 1 }, f.unique ? { unique: true, sparse: true } : {});
    }
  }

  const encryptInto = (target: Plain, id: unknown, f: EncryptedFieldSpec, value: unknown): void => {
    if (value === null || value === undefined) {
      target[f.path] = value;
      // No value, no blind index: a stored null would collide under the unique index (MongoDB
      // indexes nulls even when the index is sparse), so a second record without the value failed.
      if (f.blindIndex) delete target[blindIndexPath(f.path)];
      return;
    }
    const plain = String(value);
    target[f.path] = cipher.encrypt(plain, aadFor(collection, id, f.path));
    if (f.blindIndex) target[blindIndexPath(f.path)] = cipher.blindIndex(`${collection}.${f.path}`, plain);
  };

  /**
   * Decrypts every encrypted field of a raw document in place. A value that fails is
   * reported (registry: logged once, alert hook) and then either fails the read, or, when
   * `mark` is set (lists), becomes null with its path listed under `_unreadable`.
   */
  const decryptIn = (raw: Plain, mark = false): void => {
    const unreadable: string[] = [];
    for (const f of fields) {
      const v = raw[f.path];
      if (typeof v === 'string') {
        try {
          raw[f.path] = cipher.decrypt(v, aadFor(collection, raw._id, f.path));
        } catch (err) {
          if (!(err instanceof DecryptionError)) throw err;
          opts.registry?.reportUndecryptable({ collection, id: String(raw._id), path: f.path });
          if (!mark) throw err;
          raw[f.path] = null;
          unreadable.push(f.path);
        }
      }
      delete raw[blindIndexPath(f.path)];
    }
    if (unreadable.length) raw[UNREADABLE] = unreadable;
  };

  // Documents: encrypt modified fields just before the write, restore plaintext right after,
  // whether the write succeeded or failed: a document must never keep ciphertext in memory,
  // or a retried save would encrypt the ciphertext again.
  type SavedDoc = { $locals: Plain; set(path: string, value: unknown): unknown; unmarkModified(path: string): void };
  const restorePlaintext = (doc: SavedDoc, saved: boolean): void => {
    const plainValues = doc.$locals.encryptedPlain as Plain | undefined;
    if (!plainValues) return;
    delete doc.$locals.encryptedPlain;
    for (const [path, value] of Object.entries(plainValues)) {
      doc.set(path, value);
      // After a failed write the path stays modified, so the retry encrypts it (once).
      if (saved) doc.unmarkModified(path);
    }
  };
  schema.pre('save', function () {
    // A save that failed before the error hook could run (it always runs today) must not leave ciphertext behind.
    restorePlaintext(this, false);
    const plainValues: Plain = {};
    for (const f of fields) {
      if (!this.isNew && !this.isModified(f.path)) continue;
      const value = this.get(f.path) as unknown;
      plainValues[f.path] = value;
      const enc: Plain = {};
      encryptInto(enc, this._id, f, value);
      this.set(f.path, enc[f.path]);
      // undefined unsets an index left from an earlier value.
      if (f.blindIndex) this.set(blindIndexPath(f.path), enc[blindIndexPath(f.path)]);
    }
    this.$locals.encryptedPlain = plainValues;
  });
  schema.post('save', function () {
    restorePlaintext(this, true);
  });
  schema.post('save', { errorHandler: true }, function () {
    // Not rethrown here: returning leaves the original error to reject the save.
    restorePlaintext(this, false);
  });

  // Hydration from the database: decrypt the raw document before mongoose casts it.
  schema.pre('init', function (raw: Plain) {
    decryptIn(raw);
  });

  // insertMany skips save hooks: encrypt copies of the input (the caller's objects keep their
  // plaintext, so a retry after a failed insert never encrypts twice), then give the
  // caller plaintext back on the created documents.
  schema.pre('insertMany', function (docs: unknown) {
    const copies = (Array.isArray(docs) ? docs : [docs]).map((input: unknown) => {
      const doc: Plain = { ...((input as { toObject?: () => Plain }).toObject?.() ?? (input as Plain)) };
      if (doc._id === undefined) doc._id = new Types.ObjectId();
      for (const f of fields) if (f.path in doc) encryptInto(doc, doc._id, f, doc[f.path]);
      return doc;
    });
    // Mongoose's documented way to replace a hook's arguments; its insertMany typing omits it.
    return overwriteMiddlewareArguments(copies) as unknown as void;
  });
  schema.post('insertMany', function (docs: unknown) {
    for (const doc of (Array.isArray(docs) ? docs : [docs]) as Array<{
      _id: unknown;
      get(p: string): unknown;
      set(p: string, v: unknown): void;
      unmarkModified?(p: string): void;
    }>) {
      for (const f of fields) {
        const v = doc.get(f.path);
        if (typeof v !== 'string') continue;
        doc.set(f.path, cipher.decrypt(v, aadFor(collection, doc._id, f.path)));
        doc.unmarkModified?.(f.path);
      }
    }
  });

  /** Whether a filter fragment names an encrypted path anywhere, through nested $and/$or/$nor. */
  const mentionsEncrypted = (node: unknown): boolean => {
    if (Array.isArray(node)) return node.some(mentionsEncrypted);
    if (!node || typeof node !== 'object') return false;
    return Object.entries(node as Plain).some(
      ([key, value]) => byPath.has(key) || (LOGICAL_OPERATORS.has(key) && mentionsEncrypted(value)),
    );
  };

  // Queries: equality on an encrypted field goes through its blind index; a presence check
  // (null, $exists, $eq/$ne null) stays as it is, since null is stored as null and absence is no secret.
  for (const hook of QUERY_HOOKS) {
    schema.pre(hook, function (this: Query<unknown, unknown>) {
      const filter = this.getFilter() as Plain;
      // Inside $or/$and/$nor, at any depth, a condition on an encrypted field would silently match nothing.
      for (const op of LOGICAL_OPERATORS) {
        if (mentionsEncrypted(filter[op]))
          throw new EncryptedFieldQueryError(
            `Encrypted fields of ${collection} can only be matched at the top level of a query, not inside ${op}.`,
          );
      }
      let changed = false;
      for (const [path, cond] of Object.entries(filter)) {
        const f = byPath.get(path);
        if (!f || isPresenceCheck(cond)) continue;
        if (!f.blindIndex)
          throw new EncryptedFieldQueryError(`The field ${collection}.${path} is encrypted and cannot be searched.`);
        const index = (v: unknown): string => cipher.blindIndex(`${collection}.${path}`, String(v));
        let replacement: unknown;
        if (typeof cond === 'string' || typeof cond === 'number') replacement = index(cond);
        else if (
          cond &&
          typeof cond === 'object' &&
          Object.keys(cond).length === 1 &&
          Array.isArray((cond as Plain).$in) &&
          ((cond as Plain).$in as unknown[]).every((v) => typeof v === 'string' || typeof v === 'number')
        ) {
          replacement = { $in: ((cond as Plain).$in as unknown[]).map(index) };
        } else
          throw new EncryptedFieldQueryError(
            `The field ${collection}.${path} is encrypted and can only be matched by equality.`,
          );
        delete filter[path];
        filter[blindIndexPath(path)] = replacement;
        changed = true;
      }
      if (changed) this.setQuery(filter);
    });
  }

  // Write paths that would store a value without passing through encryptInto are refused
  // outright, rather than risk plaintext at rest: replacements, bulk writes, update pipelines.
  const refuse = (what: string): never => {
    throw new PersistenceError(
      'encrypted-field-write-refused',
      `fieldEncryption: ${what} is not supported on ${collection} (it has encrypted fields); use save(), create() or updateOne()`,
    );
  };
  for (const hook of ['replaceOne', 'findOneAndReplace'] as const) {
    schema.pre(hook, function () {
      refuse(hook);
    });
  }
  schema.pre('bulkWrite', function (ops: unknown) {
    const writes = (Array.isArray(ops) ? ops : []) as Plain[];
    if (writes.some((op) => !('deleteOne' in op) && !('deleteMany' in op)))
      refuse('bulkWrite with inserts, updates or replacements');
  });

  // Updates that set encrypted fields: encrypt with the target document's id in the AAD.
  for (const hook of UPDATE_HOOKS) {
    schema.pre(hook, async function (this: Query<unknown, unknown>) {
      const update = this.getUpdate() as Plain | null;
      if (Array.isArray(update)) refuse('an update pipeline');
      if (!update) return;
      const $set = { ...((update.$set as Plain | undefined) ?? {}) };
      const $unset = { ...((update.$unset as Plain | undefined) ?? {}) };
      for (const key of Object.keys(update)) {
        if (!key.startsWith('$') && byPath.has(key)) {
          $set[key] = update[key];
          delete update[key];
        }
      }
      const touched = fields.filter((f) => f.path in $set || f.path in $unset);
      if (touched.length === 0) return;
      const setOnInsert = (update.$setOnInsert as Plain | undefined) ?? {};
      if (fields.some((f) => f.path in setOnInsert))
        throw new PersistenceError(
          'encrypted-field-write-refused',
          'fieldEncryption: $setOnInsert of an encrypted field is not supported',
        );
      const id = await targetId(this);
      for (const f of touched) {
        if (f.path in $unset) {
          if (f.blindIndex) $unset[blindIndexPath(f.path)] = '';
          continue;
        }
        encryptInto($set, id, f, $set[f.path]);
        // Set to null: the blind index goes (see encryptInto).
        if (f.blindIndex && !(blindIndexPath(f.path) in $set)) $unset[blindIndexPath(f.path)] = '';
      }
      const next: Plain = { ...update };
      if (Object.keys($set).length) next.$set = $set;
      if (Object.keys($unset).length) next.$unset = $unset;
      // Pin the write to the document whose id is in the AAD: if another write changes which
      // document the filter matches in between, nothing is written rather than a value bound
      // to the wrong id (which could never be decrypted).
      if (!('_id' in this.getFilter())) {
        this.setQuery({ ...(this.getFilter() as Plain), _id: id });
        if (this.getOptions().upsert) next.$setOnInsert = { ...setOnInsert, _id: id };
      }
      this.setUpdate(next);
    });
  }

  // lean() results bypass hydration; decrypt them here.
  for (const hook of LEAN_RESULT_HOOKS) {
    schema.post(hook, function (this: Query<unknown, unknown>, result: unknown) {
      if (!this.mongooseOptions().lean || !result) return;
      // With includeResultMetadata, findOneAndUpdate answers { value, ok, lastErrorObject }.
      const unwrapped =
        !Array.isArray(result) && typeof result === 'object' && 'lastErrorObject' in result
          ? (result as Plain).value
          : result;
      if (!unwrapped) return;
      const docs = (Array.isArray(unwrapped) ? unwrapped : [unwrapped]) as Plain[];
      const lean = this.mongooseOptions().lean as { markUnreadable?: boolean } | true;
      const mark = hook === 'find' && typeof lean === 'object' && lean.markUnreadable === true;
      for (const doc of docs) if (doc && typeof doc === 'object' && '_id' in doc) decryptIn(doc, mark);
    });
  }
}

/**
 * The id of the one document an update will change, needed for its AAD. An update of
 * encrypted fields must target exactly one document (by `_id`, or by a filter matching
 * one); an upsert that matches none gets a fresh id.
 */
async function targetId(query: Query<unknown, unknown>): Promise<unknown> {
  const filter = query.getFilter() as Plain;
  if (filter._id !== undefined && (typeof filter._id !== 'object' || filter._id instanceof Types.ObjectId))
    return filter._id;
  const matches = (await query.model.find(filter).select({ _id: 1 }).limit(2).lean()) as Array<{ _id: unknown }>;
  if (matches.length === 1) return matches[0]._id;
  // None: an upsert inserts under this fresh id; otherwise nothing is written at all.
  if (matches.length === 0) return new Types.ObjectId();
  throw new PersistenceError(
    'encrypted-field-write-refused',
    'fieldEncryption: an update that sets encrypted fields must target exactly one document',
  );
}

/** A condition about presence only: `null`, `{ $exists: bool }`, `{ $eq: null }`, `{ $ne: null }`. */
function isPresenceCheck(cond: unknown): boolean {
  if (cond === null) return true;
  if (!cond || typeof cond !== 'object' || Array.isArray(cond)) return false;
  const entries = Object.entries(cond as Plain);
  return (
    entries.length === 1 &&
    ((entries[0][0] === '$exists' && typeof entries[0][1] === 'boolean') ||
      ((entries[0][0] === '$eq' || entries[0][0] === '$ne') && entries[0][1] === null))
  );
}

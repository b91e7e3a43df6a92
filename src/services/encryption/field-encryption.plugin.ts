import { Types, type Schema, type Query } from 'mongoose';
import { AppError } from '../../lib/errors';

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

/**
 * Collects which collections hold which encrypted fields, for key rotation and usage counts.
 * Every encrypted value must be registered here, whether the plugin or a service encrypts
 * it, with associated data `aadFor(collection, _id, path)`: a value rotation cannot see
 * keeps its old key alive, and retiring that key would make it unreadable.
 */
export class EncryptedFieldRegistry {
  readonly collections = new Map<string, string[]>();
  /** Adds paths (dotted for nested fields) to a collection's list. */
  register(collection: string, paths: string[]): void {
    this.collections.set(collection, [...new Set([...(this.collections.get(collection) ?? []), ...paths])]);
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
      if (f.blindIndex) target[blindIndexPath(f.path)] = value;
      return;
    }
    const plain = String(value);
    target[f.path] = cipher.encrypt(plain, aadFor(collection, id, f.path));
    if (f.blindIndex) target[blindIndexPath(f.path)] = cipher.blindIndex(`${collection}.${f.path}`, plain);
  };

  const decryptIn = (raw: Plain): void => {
    for (const f of fields) {
      const v = raw[f.path];
      if (typeof v === 'string') raw[f.path] = cipher.decrypt(v, aadFor(collection, raw._id, f.path));
      delete raw[blindIndexPath(f.path)];
    }
  };

  // Documents: encrypt modified fields just before the write, restore plaintext right after.
  schema.pre('save', function () {
    const plainValues: Plain = {};
    for (const f of fields) {
      if (!this.isNew && !this.isModified(f.path)) continue;
      const value = this.get(f.path) as unknown;
      plainValues[f.path] = value;
      const enc: Plain = {};
      encryptInto(enc, this._id, f, value);
      this.set(f.path, enc[f.path]);
      if (f.blindIndex) this.set(blindIndexPath(f.path), enc[blindIndexPath(f.path)]);
    }
    this.$locals.encryptedPlain = plainValues;
  });
  schema.post('save', function () {
    const plainValues = (this.$locals.encryptedPlain ?? {}) as Plain;
    for (const [path, value] of Object.entries(plainValues)) {
      this.set(path, value);
      this.unmarkModified(path);
    }
    delete this.$locals.encryptedPlain;
  });

  // Hydration from the database: decrypt the raw document before mongoose casts it.
  schema.pre('init', function (raw: Plain) {
    decryptIn(raw);
  });

  // insertMany skips save hooks: encrypt the raw input, then give the caller plaintext back.
  schema.pre('insertMany', function (docs: unknown) {
    for (const doc of (Array.isArray(docs) ? docs : [docs]) as Plain[]) {
      if (doc._id === undefined) doc._id = new Types.ObjectId();
      for (const f of fields) if (f.path in doc) encryptInto(doc, doc._id, f, doc[f.path]);
    }
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

  // Queries: equality on an encrypted field goes through its blind index.
  for (const hook of QUERY_HOOKS) {
    schema.pre(hook, function (this: Query<unknown, unknown>) {
      const filter = this.getFilter() as Plain;
      // Inside $or/$and/$nor a condition on an encrypted field would silently match nothing.
      for (const op of ['$or', '$and', '$nor']) {
        const branches = filter[op];
        if (
          Array.isArray(branches) &&
          branches.some((b) => b && typeof b === 'object' && Object.keys(b as Plain).some((k) => byPath.has(k)))
        ) {
          throw AppError.badRequest(
            `Encrypted fields can only be matched by equality at the top level of a query, not inside ${op}.`,
          );
        }
      }
      let changed = false;
      for (const [path, cond] of Object.entries(filter)) {
        const f = byPath.get(path);
        if (!f) continue;
        if (!f.blindIndex) throw AppError.badRequest(`The field ${path} is encrypted and cannot be searched.`);
        const index = (v: unknown): string => cipher.blindIndex(`${collection}.${path}`, String(v));
        let replacement: unknown;
        if (typeof cond === 'string' || typeof cond === 'number') replacement = index(cond);
        else if (
          cond &&
          typeof cond === 'object' &&
          Object.keys(cond).length === 1 &&
          Array.isArray((cond as Plain).$in)
        ) {
          replacement = { $in: ((cond as Plain).$in as unknown[]).map(index) };
        } else throw AppError.badRequest(`The field ${path} is encrypted and can only be matched by equality.`);
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
    throw new Error(
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
        throw new Error('fieldEncryption: $setOnInsert of an encrypted field is not supported');
      const id = await targetId(this);
      for (const f of touched) {
        if (f.path in $unset) {
          if (f.blindIndex) $unset[blindIndexPath(f.path)] = '';
          continue;
        }
        encryptInto($set, id, f, $set[f.path]);
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
      for (const doc of docs) if (doc && typeof doc === 'object' && '_id' in doc) decryptIn(doc);
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
  throw new Error('fieldEncryption: an update that sets encrypted fields must target exactly one document');
}

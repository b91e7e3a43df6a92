import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { BSON } from 'mongodb';
import {
  BsonFormatError,
  canonicalJson,
  collectionFileStem,
  decodeDocument,
  encodeMetadata,
  escapeCollectionName,
  indexSpecsForCreate,
  isTruncatedStem,
  parseMetadata,
  serializeDocuments,
  splitBsonDocuments,
  unescapeCollectionName,
} from '../../../src/services/backup-restore/dump-format';
import {
  BackupDecryptionError,
  decryptStream,
  encryptStream,
} from '../../../src/services/backup-restore/file-encryption';
import { tempDir } from '../../support/backup-fixtures';
import { mongoTools } from '../../support/mongo-tools';

const { tools, reason } = mongoTools();
if (!tools) console.warn(`bsondump tests skipped: ${reason}`);
const itWithTools = tools ? it : it.skip;

/** One document of every BSON type js-bson can write, with edge values. */
function everyType(): BSON.Document[] {
  return [
    {
      _id: 1,
      negZero: new BSON.Double(-0),
      nan: NaN,
      inf: Infinity,
      ninf: -Infinity,
      f: 1.5,
      whole: new BSON.Double(2),
    },
    { _id: 2, s: 'ünï\u0000code 💾', empty: '', nested: { a: { b: [1, [2, { c: 3 }]] } }, arr: [], emptyDoc: {} },
    {
      _id: 3,
      b0: new BSON.Binary(Buffer.from('abc')),
      b1: new BSON.Binary(Buffer.from('fn'), 1),
      b3: new BSON.Binary(Buffer.alloc(16, 1), 3),
      b4: new BSON.Binary(randomBytes(16), 4),
      b5: new BSON.Binary(Buffer.alloc(16, 2), 5),
      b6: new BSON.Binary(Buffer.from('x'), 6),
      b7: new BSON.Binary(Buffer.from('y'), 7),
      b8: new BSON.Binary(Buffer.from('z'), 8),
      b80: new BSON.Binary(Buffer.from('user'), 0x80),
    },
    {
      _id: new BSON.ObjectId(),
      t: true,
      f: false,
      n: null,
      before1970: new Date(-1e12),
      far: new Date(8.64e15),
      re: new BSON.BSONRegExp('a.c', 'imsux'),
    },
    {
      _id: 'five',
      code: new BSON.Code('function () { return 1; }'),
      codeWithScope: new BSON.Code('x + 1', { x: 1 }),
      symbol: new BSON.BSONSymbol('sym'),
      int32: new BSON.Int32(-2147483648),
      ts: new BSON.Timestamp({ t: 4294967295, i: 1 }),
      long: BSON.Long.fromString('-9223372036854775808'),
      dec: BSON.Decimal128.fromString('1234.5678E-100'),
      min: new BSON.MinKey(),
      max: new BSON.MaxKey(),
    },
    { _id: 6, ref: new BSON.DBRef('coll', new BSON.ObjectId(), 'db') },
    { _id: 7, big: 'x'.repeat(3 * 1024 * 1024) },
  ];
}

/** Deprecated types js-bson cannot write (undefined 0x06, DBPointer 0x0C), as raw bytes. */
function deprecatedTypes(): Buffer {
  const cstring = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
  const str = (s: string): Buffer => {
    const b = cstring(s);
    const len = Buffer.alloc(4);
    len.writeInt32LE(b.length);
    return Buffer.concat([len, b]);
  };
  const oid = Buffer.from('5f0c7b9d2a1e3c4b5a697887', 'hex');
  const body = Buffer.concat([
    Buffer.from([0x10]),
    cstring('_id'),
    Buffer.from([8, 0, 0, 0]),
    Buffer.from([0x06]),
    cstring('u'),
    Buffer.from([0x0c]),
    cstring('p'),
    str('db.coll'),
    oid,
    Buffer.from([0]),
  ]);
  const len = Buffer.alloc(4);
  len.writeInt32LE(body.length + 4);
  return Buffer.concat([len, body]);
}

/** Feeds a buffer in chunks of the given sizes (cycling), so documents straddle chunk borders. */
async function* inChunks(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = sizes[i++ % sizes.length]!;
    yield data.subarray(at, at + n);
    at += n;
  }
}

/** Length and SHA-256 of bytes: jest's deep equality walks large Buffers byte by byte. */
function fingerprint(b: Buffer): string {
  return `${b.length}:${createHash('sha256').update(b).digest('hex')}`;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('dump format: BSON stream writer and reader', () => {
  // Feeding the whole file one byte per chunk is hundreds of thousands of async steps: slow
  // under coverage on a loaded 2-core machine, so a wider bound than the suite's 120 s.
  it('when every BSON type goes through writer, gzip and reader in odd-sized chunks, then the bytes come back identical and decode back to the same bytes', async () => {
    const written = [...everyType(), deprecatedTypes()];
    const raws = written.map((d) => (Buffer.isBuffer(d) ? d : Buffer.from(BSON.serialize(d))));
    const dir = tempDir('dump-format');
    try {
      const file = path.join(dir, 'all.bson.gz');
      await pipeline(Readable.from(serializeDocuments(written)), createGzip(), createWriteStream(file));
      const plain = gunzipSync(await fs.readFile(file));
      expect(fingerprint(plain)).toBe(fingerprint(Buffer.concat(raws)));
      for (const sizes of [[1], [3, 7, 11], [65536], [plain.length]]) {
        const docs = await collect(splitBsonDocuments(inChunks(plain, sizes)));
        expect(docs).toHaveLength(raws.length);
        expect(docs.map(fingerprint)).toEqual(raws.map(fingerprint));
      }
      const docs = await collect(splitBsonDocuments(createReadStream(file).pipe(createGunzip())));
      // Type-preserving decode re-encodes every js-bson type to the very same bytes.
      for (const raw of docs.slice(0, -1)) {
        expect(fingerprint(Buffer.from(BSON.serialize(decodeDocument(raw))))).toBe(fingerprint(raw));
      }
      expect(canonicalJson(docs[0]!)).toBe(
        '{"_id":{"$numberInt":"1"},"negZero":{"$numberDouble":"-0.0"},"nan":{"$numberDouble":"NaN"},"inf":{"$numberDouble":"Infinity"},"ninf":{"$numberDouble":"-Infinity"},"f":{"$numberDouble":"1.5"},"whole":{"$numberDouble":"2.0"}}',
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 300_000);

  itWithTools(
    'when bsondump reads the written file, then it decodes every document, deprecated types included, to the same values',
    async () => {
      const raws = [...everyType().map((d) => Buffer.from(BSON.serialize(d))), deprecatedTypes()];
      const dir = tempDir('dump-format-bsondump');
      try {
        const file = path.join(dir, 'all.bson');
        await fs.writeFile(file, Buffer.concat(await collect(serializeDocuments(raws))));
        const { stdout, stderr } = tools!.run('bsondump', ['--type=json', file]);
        const lines = stdout.split('\n').filter(Boolean);
        expect(stderr).toContain(`${raws.length} objects found`);
        expect(lines).toHaveLength(raws.length);
        for (let i = 0; i < raws.length - 1; i++) {
          expect(Buffer.from(BSON.serialize(BSON.EJSON.parse(lines[i]!, { relaxed: false }) as BSON.Document))).toEqual(
            raws[i],
          );
        }
        expect(JSON.parse(lines.at(-1)!)).toEqual({
          _id: { $numberInt: '8' },
          u: { $undefined: true },
          p: { $dbPointer: { $ref: 'db.coll', $id: { $oid: '5f0c7b9d2a1e3c4b5a697887' } } },
        });
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('when the stream is truncated, a length is impossible or too large, or a document is unterminated, then the reader fails', async () => {
    const doc = Buffer.from(BSON.serialize({ _id: 1, s: 'hello' }));
    await expect(collect(splitBsonDocuments(inChunks(doc.subarray(0, doc.length - 1), [4])))).rejects.toBeInstanceOf(
      BsonFormatError,
    );
    await expect(collect(splitBsonDocuments(inChunks(Buffer.from([1, 0, 0, 0, 0]), [5])))).rejects.toThrow(
      'invalid BSON document length 1',
    );
    await expect(collect(splitBsonDocuments(inChunks(doc, [doc.length]), 10))).rejects.toThrow(
      `invalid BSON document length ${doc.length}`,
    );
    const unterminated = Buffer.from(doc);
    unterminated[doc.length - 1] = 7;
    await expect(collect(splitBsonDocuments(inChunks(unterminated, [2])))).rejects.toThrow('not terminated');
    expect(await collect(splitBsonDocuments(inChunks(Buffer.alloc(0), [1])))).toEqual([]);
  });
});

describe('dump format: collection file names and metadata', () => {
  it('when names hold reserved, space, percent or non-ASCII characters, then they are escaped like Go url.QueryEscape and unescape back', () => {
    const cases: Array<[string, string]> = [
      ['employees', 'employees'],
      ['a/b', 'a%2Fb'],
      ['back\\slash', 'back%5Cslash'],
      ['with space', 'with+space'],
      ['100%', '100%25'],
      ['x.y-z_~', 'x.y-z_~'],
      ['a+b', 'a%2Bb'],
      ['q?&=#:;,@$*', 'q%3F%26%3D%23%3A%3B%2C%40%24%2A'],
      ['ünï', '%C3%BCn%C3%AF'],
    ];
    for (const [name, escaped] of cases) {
      expect(escapeCollectionName(name)).toBe(escaped);
      expect(unescapeCollectionName(escaped)).toBe(name);
    }
    expect(() => unescapeCollectionName('bad%zz')).toThrow('invalid escape');
  });

  it('when an escaped name exceeds 238 bytes, then it is cut to 208 bytes plus %24 and base64url SHA-1, as mongodump does', () => {
    const name = 'l'.repeat(300);
    const stem = collectionFileStem(name);
    expect(stem).toBe('l'.repeat(208) + '%24' + createHash('sha1').update(name).digest('base64url'));
    expect(stem).toHaveLength(238);
    expect(isTruncatedStem(stem)).toBe(true);
    expect(isTruncatedStem(collectionFileStem('short'))).toBe(false);
    expect(collectionFileStem('m'.repeat(238))).toBe('m'.repeat(238));
  });

  it('when metadata is encoded and parsed, then it is canonical EJSON in mongodump field order and index specs lose v and ns', () => {
    const text = encodeMetadata({
      options: {},
      indexes: [
        { v: new BSON.Int32(2), key: { _id: new BSON.Int32(1) }, name: '_id_' },
        {
          v: new BSON.Int32(2),
          key: { a: new BSON.Int32(1), b: new BSON.Int32(-1) },
          name: 'a_b',
          unique: true,
          ns: 'db.c',
        },
      ],
      uuid: '0123456789abcdef0123456789abcdef',
      collectionName: 'c',
      type: 'collection',
    });
    expect(text).toBe(
      '{"options":{},"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},' +
        '{"v":{"$numberInt":"2"},"key":{"a":{"$numberInt":"1"},"b":{"$numberInt":"-1"}},"name":"a_b","unique":true,"ns":"db.c"}],' +
        '"uuid":"0123456789abcdef0123456789abcdef","collectionName":"c","type":"collection"}',
    );
    const meta = parseMetadata(text, 'fallback');
    expect(meta.collectionName).toBe('c');
    expect(indexSpecsForCreate(meta)).toEqual([
      { key: { a: new BSON.Int32(1), b: new BSON.Int32(-1) }, name: 'a_b', unique: true },
    ]);
    expect(parseMetadata('{"indexes":[]}', 'old-dump').collectionName).toBe('old-dump');
    expect(() => parseMetadata('[]', 'x')).toThrow(BsonFormatError);
  });
});

describe('file encryption (AES-256-GCM stream)', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('backup:b:dump/db/c.bson.gz');
  const data = gzipSync(randomBytes(200_000));

  it('when encrypted and decrypted in odd chunks, then the data comes back, and the stored form is header + ciphertext + tag', async () => {
    const stored = Buffer.concat(await collect(encryptStream(inChunks(data, [1000, 7]), key, aad)));
    expect(stored.length).toBe(19 + data.length + 16);
    expect(stored.subarray(0, 7)).toEqual(Buffer.from('ERPBAK\x01', 'latin1'));
    for (const sizes of [[1], [5, 17], [stored.length]]) {
      expect(fingerprint(Buffer.concat(await collect(decryptStream(inChunks(stored, sizes), key, aad))))).toBe(
        fingerprint(data),
      );
    }
  });

  it('when a byte, the key, the AAD or the length is wrong, then decryption fails with BackupDecryptionError', async () => {
    const stored = Buffer.concat(await collect(encryptStream(inChunks(data, [4096]), key, aad)));
    const flipped = Buffer.from(stored);
    flipped[stored.length - 40]! ^= 1;
    const attempts = [
      decryptStream(inChunks(flipped, [4096]), key, aad),
      decryptStream(inChunks(stored, [4096]), randomBytes(32), aad),
      decryptStream(inChunks(stored, [4096]), key, Buffer.from('backup:b:dump/db/other.bson.gz')),
      decryptStream(inChunks(stored.subarray(0, stored.length - 1), [4096]), key, aad),
      decryptStream(inChunks(stored.subarray(0, 20), [4096]), key, aad),
      decryptStream(inChunks(data, [4096]), key, aad),
    ];
    for (const attempt of attempts) await expect(collect(attempt)).rejects.toBeInstanceOf(BackupDecryptionError);
  });
});

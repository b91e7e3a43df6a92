import { createSecretKey, randomBytes } from 'node:crypto';
import { DecryptionError, gcmDecrypt, gcmEncrypt } from '../../../src/services/encryption/cipher';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/**
 * AES-256 test cases 13–18 of "The Galois/Counter Mode of Operation (GCM)", McGrew & Viega
 * (the vectors NIST's GCM validation set also carries). 17 and 18 use 64-bit and 480-bit IVs,
 * which go through GHASH instead of the 96-bit fast path.
 */
const K15 = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const P15 =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const C15 =
  '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';
const VECTORS = [
  {
    name: 'TC13',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    pt: '',
    aad: '',
    ct: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'TC14',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    pt: '00'.repeat(16),
    aad: '',
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'TC15',
    key: K15,
    iv: 'cafebabefacedbaddecaf888',
    pt: P15,
    aad: '',
    ct: C15,
    tag: 'b094dac5d93471bdec1a502270e3cc6c',
  },
  {
    name: 'TC16',
    key: K15,
    iv: 'cafebabefacedbaddecaf888',
    pt: P15.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    ct: C15.slice(0, 120),
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
  {
    name: 'TC17',
    key: K15,
    iv: 'cafebabefacedbad',
    pt: P15.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    ct: 'c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f',
    tag: '3a337dbf46a792c45e454913fe2ea8f2',
  },
  {
    name: 'TC18',
    key: K15,
    iv: '9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b',
    pt: P15.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    ct: '5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf40fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f',
    tag: 'a44a8266ee1c8eb0c8b5d4cf5ae9f19a',
  },
];

describe('AES-256-GCM primitive', () => {
  it.each(VECTORS)(
    'when given published vector $name, then it reproduces ciphertext and tag and decrypts back',
    (v) => {
      const out = gcmEncrypt(createSecretKey(hex(v.key)), hex(v.iv), hex(v.pt), v.aad ? hex(v.aad) : undefined);
      expect(out.ciphertext.toString('hex')).toBe(v.ct);
      expect(out.tag.toString('hex')).toBe(v.tag);
      expect(
        gcmDecrypt(
          createSecretKey(hex(v.key)),
          hex(v.iv),
          hex(v.ct),
          hex(v.tag),
          v.aad ? hex(v.aad) : undefined,
        ).toString('hex'),
      ).toBe(v.pt);
    },
  );

  it.each(VECTORS.filter((v) => v.pt.length > 0))(
    'when vector $name is altered (tag bit, ciphertext bit, AAD, truncated tag, wrong key), then DecryptionError',
    (v) => {
      const key = createSecretKey(hex(v.key));
      const aad = v.aad ? hex(v.aad) : undefined;
      const flip = (b: Buffer, i: number): Buffer => {
        const c = Buffer.from(b);
        c[i] ^= 1;
        return c;
      };
      const attempts = [
        () => gcmDecrypt(key, hex(v.iv), hex(v.ct), flip(hex(v.tag), 0), aad),
        () => gcmDecrypt(key, hex(v.iv), flip(hex(v.ct), hex(v.ct).length - 1), hex(v.tag), aad),
        () => gcmDecrypt(key, hex(v.iv), hex(v.ct), hex(v.tag), aad ? flip(aad, 0) : Buffer.from('x')),
        () => gcmDecrypt(key, hex(v.iv), hex(v.ct), hex(v.tag).subarray(0, 12), aad),
        () => gcmDecrypt(createSecretKey(randomBytes(32)), hex(v.iv), hex(v.ct), hex(v.tag), aad),
      ];
      for (const attempt of attempts) expect(attempt).toThrow(DecryptionError);
    },
  );
});

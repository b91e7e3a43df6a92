import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { cborEncode, type CborMap } from './cbor';

/**
 * A software WebAuthn authenticator built from node:crypto: an ES256 (P-256) key per
 * credential, authenticator data and clientDataJSON assembled by hand, attestation "none".
 * Each call can break one thing (origin, RP id, UV flag, counter...) to test a refusal.
 */

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export interface SoftCredential {
  /** base64url credential id. */
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The user handle the RP gave at registration (base64url), returned by discoverable sign-ins. */
  userHandle: string;
  counter: number;
}

/** What a test may change about one ceremony's answer. */
export interface Tamper {
  origin?: string;
  rpId?: string;
  /** Leave the user-verified flag off (a touch without PIN or biometrics). */
  noUserVerification?: boolean;
  /** The signature counter to report (default: the credential's next value). */
  counter?: number;
  /** Answer this challenge instead of the one in the options. */
  challenge?: string;
  type?: string;
  /** Registration: the length of the new credential id in bytes (default 32). */
  credentialIdBytes?: number;
  /** Registration: present this already created credential (its id and key) again. */
  reuse?: SoftCredential;
}

export interface CreationOptions {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
}

export interface RequestOptions {
  challenge: string;
  rpId?: string;
}

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest();
const b64u = (b: Buffer): string => b.toString('base64url');

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];

  constructor(
    readonly origin: string,
    readonly rpId: string,
  ) {}

  private clientData(type: string, challenge: string, tamper: Tamper): Buffer {
    return Buffer.from(
      JSON.stringify({
        type: tamper.type ?? type,
        challenge: tamper.challenge ?? challenge,
        origin: tamper.origin ?? this.origin,
        crossOrigin: false,
      }),
      'utf8',
    );
  }

  private flags(tamper: Tamper, extra: number): number {
    // A synced passkey: backup eligible and backed up, like a platform authenticator.
    return FLAG_UP | (tamper.noUserVerification ? 0 : FLAG_UV) | FLAG_BE | FLAG_BS | extra;
  }

  private static counterBytes(n: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  }

  /** navigator.credentials.create() → the RegistrationResponseJSON the browser library sends. */
  create(
    options: CreationOptions,
    tamper: Tamper = {},
  ): { response: RegistrationResponseBody; credential: SoftCredential } {
    const { privateKey, publicKey } = tamper.reuse ?? generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const coseKey: CborMap = new Map<number | string, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x as string, 'base64url')],
      [-3, Buffer.from(jwk.y as string, 'base64url')],
    ]);
    const credentialId = tamper.reuse
      ? Buffer.from(tamper.reuse.id, 'base64url')
      : randomBytes(tamper.credentialIdBytes ?? 32);
    const counter = tamper.counter ?? 0;
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credentialId.length);
    const authData = Buffer.concat([
      sha256(tamper.rpId ?? options.rp.id ?? this.rpId),
      Buffer.from([this.flags(tamper, FLAG_AT)]),
      SoftAuthenticator.counterBytes(counter),
      Buffer.alloc(16), // aaguid: none given
      idLength,
      credentialId,
      cborEncode(coseKey),
    ]);
    const attestationObject = cborEncode(
      new Map<string, string | CborMap | Uint8Array>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    const credential: SoftCredential = {
      id: b64u(credentialId),
      privateKey,
      publicKey,
      userHandle: options.user.id,
      counter,
    };
    return {
      credential,
      response: {
        id: credential.id,
        rawId: credential.id,
        type: 'public-key',
        response: {
          clientDataJSON: b64u(this.clientData('webauthn.create', options.challenge, tamper)),
          attestationObject: b64u(attestationObject),
          transports: ['internal', 'hybrid'],
        },
        authenticatorAttachment: 'platform',
        clientExtensionResults: {},
      },
    };
  }

  /** Keeps a registered credential for later sign-ins. */
  keep(credential: SoftCredential): SoftCredential {
    this.credentials.push(credential);
    return credential;
  }

  /** navigator.credentials.get() with `credential` → the AuthenticationResponseJSON. */
  get(options: RequestOptions, credential: SoftCredential, tamper: Tamper = {}): AuthenticationResponseBody {
    const counter = tamper.counter ?? credential.counter + 1;
    if (tamper.counter === undefined) credential.counter = counter;
    const authData = Buffer.concat([
      sha256(tamper.rpId ?? options.rpId ?? this.rpId),
      Buffer.from([this.flags(tamper, 0)]),
      SoftAuthenticator.counterBytes(counter),
    ]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, tamper);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey);
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        userHandle: credential.userHandle,
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }
}

export interface RegistrationResponseBody {
  id: string;
  rawId: string;
  type: 'public-key';
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
  authenticatorAttachment: 'platform';
  clientExtensionResults: Record<string, never>;
}

export interface AuthenticationResponseBody {
  id: string;
  rawId: string;
  type: 'public-key';
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle: string };
  authenticatorAttachment: 'platform';
  clientExtensionResults: Record<string, never>;
}

import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { appRoutes } from '../../src/lib/openapi';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { expectProblem } from '../support/problems';
import { bearer, createUser, login } from '../support/users';

const b64url = (v: string | Buffer): string => Buffer.from(v).toString('base64url');
/** A token made by hand, so no library stops us from forging what an attacker would. */
function handMade(header: Record<string, unknown>, payload: Record<string, unknown>, sign: (input: string) => string) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${sign(input)}`;
}
const decodePayload = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;

/**
 * Tampered access tokens over HTTP, on an ES256 deployment (where HS/ES confusion is a real
 * attack), against EVERY authenticated route of the route table: each forgery is refused with
 * 401 problem+json before any handler runs. tests/services/auth/token.service.forgery.test.ts
 * proves the same per token at the service level; this proves no route lets one through.
 */
describe('JWT tampering against every authenticated route', () => {
  const server = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const attacker = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const rsa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  let t: TestApp;
  let genuine: string;
  let revoked: string;
  let forgeries: Array<[string, string]>;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      ...ROUTE_TEST_ENV,
      JWT_ALGORITHM: 'ES256',
      JWT_PRIVATE_KEY: server.privateKey,
      JWT_PUBLIC_KEY: server.publicKey,
    });
    await createUser(t, 'jwt-admin@jwt.example', 'admin', 'it');
    const first = await login(t, 'jwt-admin@jwt.example');
    expect(first.status).toBe(200);
    genuine = first.body.accessToken as string;
    const second = await login(t, 'jwt-admin@jwt.example');
    revoked = second.body.accessToken as string;
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/logout')
          .set(...bearer(revoked))
      ).status,
    ).toBe(204);

    const claims = decodePayload(genuine);
    const now = Math.floor(Date.now() / 1000);
    const { iat: _iat, exp: _exp, aud: _aud, iss: _iss, sub: _sub, jti: _jti, ...custom } = claims;
    const sign = (extra: Record<string, unknown>, opts: jwt.SignOptions, key: string = server.privateKey) =>
      jwt.sign({ ...custom, ...extra }, key, {
        algorithm: 'ES256',
        issuer: String(claims.iss),
        audience: String(claims.aud),
        subject: String(claims.sub),
        jwtid: randomUUID(),
        ...opts,
      });
    const [h, p, s] = genuine.split('.');
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    const escalated = b64url(JSON.stringify({ ...claims, role: 'admin', dept: null, mfa: true }));
    forgeries = [
      ['alg none', handMade({ alg: 'none', typ: 'JWT' }, claims, () => '')],
      ['alg "None" (case trick)', handMade({ alg: 'None', typ: 'JWT' }, claims, () => '')],
      [
        'HS256 keyed with the server public key (algorithm confusion)',
        handMade({ alg: 'HS256', typ: 'JWT' }, claims, (i) =>
          createHmac('sha256', server.publicKey).update(i).digest('base64url'),
        ),
      ],
      ['RS256 with an attacker key', jwt.sign(claims, rsa.privateKey, { algorithm: 'RS256' })],
      ['ES256 with an attacker key', jwt.sign(claims, attacker.privateKey, { algorithm: 'ES256' })],
      [
        'ES256 with an attacker key named in jwk/jku headers',
        jwt.sign(claims, attacker.privateKey, {
          algorithm: 'ES256',
          header: { alg: 'ES256', jku: 'https://evil.example/jwks.json', kid: '../../dev/null' },
        }),
      ],
      ['signature altered by one character', `${h}.${p}.${flipped}`],
      ['payload altered (claims escalated), signature kept', `${h}.${escalated}.${s}`],
      ['signature stripped', `${h}.${p}.`],
      ['expired', sign({ iat: now - 3600 }, { expiresIn: -60 })],
      ['wrong audience', sign({}, { expiresIn: 300, audience: 'another-api' })],
      ['wrong issuer', sign({}, { expiresIn: 300, issuer: 'https://evil.example' })],
      ['no session behind it (valid signature, invented sid)', sign({ sid: randomUUID() }, { expiresIn: 300 })],
      ['revoked (its session logged out)', revoked],
    ];
  }, 60_000);
  afterAll(() => t.close());

  it('when the genuine token is used, then the routes answer it (the forgeries below differ only in what was tampered)', async () => {
    const res = await request(t.app)
      .get('/api/v1/auth/me')
      .set(...bearer(genuine));
    expect(res.status).toBe(200);
  });

  it('when any tampered, expired, misaddressed or revoked token is sent to any authenticated route, then 401 problem+json and no handler ran', async () => {
    const routes = appRoutes(t.app).filter((r) => r.authenticated);
    expect(routes.length).toBeGreaterThan(50);
    const refusals: string[] = [];
    for (const route of routes) {
      const path = route.path.replace(/:(\w+)/g, randomUUID());
      for (const [name, token] of forgeries) {
        const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete';
        const res = await request(t.app)
          [method](path)
          .set(...bearer(token))
          .send(method === 'get' ? undefined : {});
        if (res.status !== 401) refusals.push(`${route.method} ${route.path} with ${name}: ${res.status}`);
        else expectProblem(res, 401);
      }
    }
    expect(refusals).toEqual([]);
    // The genuine session is untouched by all of that.
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(genuine))
      ).status,
    ).toBe(200);
  });
});

import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { bearer, createUser, mfaSession } from '../support/users';

describe('malformed percent-encoding in the URL', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
    admin = await mfaSession(t, await createUser(t, 'root@malformed-url.example', 'admin', 'it'));
  });
  afterAll(() => t.close());

  it('when a path parameter is not valid percent-encoding, then 400 problem+json (not 500) without echoing the decoder message', async () => {
    for (const path of ['/api/v1/employees/%ZZ', '/api/v1/employees/%E0%A4%A', '/api/v1/invoices/%']) {
      const res = await request(t.app)
        .get(path)
        .set(...bearer(admin));
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.body).toMatchObject({
        type: expect.stringMatching(/malformed-url$/),
        title: 'Bad Request',
        status: 400,
        requestId: res.headers['x-request-id'],
      });
      expect(res.text).not.toMatch(/Failed to decode|URIError/);
    }
    t.logger.flush();
    expect(t.logs.records().some((r) => r.msg === 'request failed')).toBe(false);
  });

  it('when the path is well-formed percent-encoding, then it is decoded as usual (404 for an unknown id)', async () => {
    const unknownId = '10000000-0000-4000-8000-000000000000';
    // %31 is "1": a well-formed UUID once decoded.
    const res = await request(t.app)
      .get('/api/v1/employees/%31' + unknownId.slice(1))
      .set(...bearer(admin));
    expect(res.status).toBe(404);
  });
});

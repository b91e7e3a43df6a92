import request from 'supertest';
import type { Express } from 'express';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { bearer, createUser, mfaSession } from '../support/users';
import { createApp } from '../../src/app';

describe('/api/docs', () => {
  let t: TestApp;
  let production: Express;
  const tok: Record<string, string> = {};

  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
    // The same container, with the HTTP layer built as in production.
    production = createApp({ ...t.container.deps, config: { ...t.config, isProduction: true } });
    tok.admin = await mfaSession(t, await createUser(t, 'docs.root@corp.example', 'admin', 'it'));
    tok.manager = await mfaSession(t, await createUser(t, 'docs.mgr@corp.example', 'manager', 'it'));
  });
  afterAll(() => t.close());

  it('when the page is requested outside production, then it is plain HTML linking the document, under the strict CSP', async () => {
    const res = await request(t.app).get('/api/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('href="/api/docs/openapi.json"');
    expect(res.text).not.toMatch(/<script|<style|style=/i);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['cache-control']).toContain('no-store');
  });

  it('when the JSON is requested outside production, then it is the OpenAPI 3.1 document of this app, listing itself', async () => {
    const res = await request(t.app).get('/api/docs/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.openapi).toBe('3.1.0');
    expect(res.body.paths['/api/v1/invoices'].get['x-permission']).toBe('invoice:read');
    expect(res.body.paths['/api/docs/openapi.json'].get).toBeDefined();
  });

  it('when in production, then anonymous callers get 401, non-admins 403, and admins the document', async () => {
    for (const p of ['/api/docs', '/api/docs/openapi.json']) {
      expect((await request(production).get(p)).status).toBe(401);
      expect(
        (
          await request(production)
            .get(p)
            .set(...bearer(tok.manager))
        ).status,
      ).toBe(403);
      expect(
        (
          await request(production)
            .get(p)
            .set(...bearer(tok.admin))
        ).status,
      ).toBe(200);
    }
    const doc = await request(production)
      .get('/api/docs/openapi.json')
      .set(...bearer(tok.admin));
    expect(doc.body.paths['/api/docs/openapi.json'].get['x-permission']).toBe('apidocs:read:any');
  });

  it('when input is sent to the docs, then it is refused as for every route', async () => {
    const res = await request(t.app).get('/api/docs/openapi.json?x=1');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

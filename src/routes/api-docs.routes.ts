import { Router, type RequestHandler } from 'express';
import { route } from '../middleware/validate';
import type { Authenticate } from '../middleware/authenticate';
import type { Authorize } from '../middleware/rbac';

export const API_DOCS_PERMISSION = 'apidocs:read:any';

/** The page links the JSON and nothing else: no script, no style, so the strict CSP holds. */
const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>erp-backend API</title></head>
<body>
<h1>erp-backend API</h1>
<p>The OpenAPI 3.1 document of this API: <a href="/api/docs/openapi.json">openapi.json</a>.
Open it in any OpenAPI viewer; it is generated from the code (docs/API.md).</p>
</body>
</html>
`;

/**
 * /api/docs: the OpenAPI document of the running app. Outside production anyone may read it;
 * in production only callers holding apidocs:read:any (admins), so the attack surface is not
 * published. `document` builds it on first use, from the app as built.
 */
export function apiDocsRoutes(deps: {
  production: boolean;
  document: () => object;
  authenticate: Authenticate;
  authorize: Authorize;
}): Router {
  const router = Router();
  const guard: RequestHandler[] = deps.production ? [deps.authenticate(), deps.authorize(API_DOCS_PERMISSION)] : [];
  let cached: string | undefined;
  const note = `In production it requires the permission \`${API_DOCS_PERMISSION}\`.`;

  router.get(
    '/',
    ...guard,
    route(
      {
        doc: {
          summary: 'A page linking the OpenAPI document',
          description: note,
          responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
        },
      },
      ({ res }) => {
        res.status(200).type('html').send(PAGE);
      },
    ),
  );
  router.get(
    '/openapi.json',
    ...guard,
    route(
      {
        doc: {
          summary: 'The OpenAPI 3.1 document of this API',
          description: note,
          responses: { 200: { description: 'The document' } },
        },
      },
      ({ res }) => {
        cached ??= JSON.stringify(deps.document());
        res.status(200).type('application/json').send(cached);
      },
    ),
  );
  return router;
}

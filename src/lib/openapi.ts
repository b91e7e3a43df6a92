import type { Express, RequestHandler } from 'express';
import { z } from 'zod';
import type { RouteDoc, RouteSpec } from '../middleware/validate';

/**
 * The OpenAPI 3.1 document, read from the built Express app: every route the router serves,
 * the zod schemas route() validates its input with, the permission authorize() names and
 * whether authenticate() guards it. Nothing is declared twice, so the document cannot drift
 * from the code (tests/lib/openapi.coverage.test.ts compares both ways).
 */

export type JsonSchema = Record<string, unknown>;

/** One (method, path) the app serves, with what its middleware says about it. */
export interface AppRoute {
  method: string;
  /** Express syntax (`/api/v1/invoices/:id`). */
  path: string;
  permission?: string;
  authenticated: boolean;
  spec?: RouteSpec;
}

interface Layer {
  name: string;
  rawPath?: unknown;
  handle: RequestHandler & {
    stack?: Layer[];
    permission?: string;
    authenticates?: boolean;
    routeSpec?: RouteSpec;
  };
  route?: {
    path: unknown;
    methods: Record<string, boolean>;
    stack: Layer[];
  };
}

const isRouterLayer = (layer: Layer): boolean => layer.name === 'router' && Array.isArray(layer.handle.stack);

/** Every route of the app in router order; answerWrongMethods' catch-all `all()` routes are not routes. */
export function appRoutes(app: Express): AppRoute[] {
  const out: AppRoute[] = [];
  const walk = (stack: Layer[], prefix: string, authenticatedAbove: boolean): void => {
    let authenticated = authenticatedAbove;
    for (const layer of stack) {
      if (layer.route) {
        if (typeof layer.route.path !== 'string') throw new Error(`route path is not a string under ${prefix}`);
        const handles = layer.route.stack.map((s) => s.handle);
        const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all' && layer.route?.methods[m]);
        for (const method of methods)
          out.push({
            method: method.toUpperCase(),
            path: (prefix + layer.route.path).replace(/(.)\/$/, '$1') || '/',
            permission: handles.map((h) => h.permission).find(Boolean),
            authenticated: authenticated || handles.some((h) => h.authenticates === true),
            spec: handles.map((h) => h.routeSpec).find(Boolean),
          });
      } else if (isRouterLayer(layer)) {
        // A pattern or array mount cannot be written as one OpenAPI path: refuse rather than guess.
        if (typeof layer.rawPath !== 'string') throw new Error(`router mounted at a non-string path under ${prefix}`);
        const mount = layer.rawPath === '/' ? '' : layer.rawPath;
        walk(layer.handle.stack ?? [], prefix + mount, authenticated);
      } else if (layer.handle.authenticates === true) {
        authenticated = true;
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '', false);
  return out;
}

/** `/api/v1/invoices/:id` → `/api/v1/invoices/{id}`. */
export const openApiPath = (expressPath: string): string => expressPath.replace(/:(\w+)/g, '{$1}');

/** A zod schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect): the input side for requests. */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out.$schema;
  return out;
}

const PROBLEM_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'RFC 9457 problem details; every error of this API has this shape.',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', description: 'A URI naming the problem type.' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    instance: { type: 'string', description: 'The request path.' },
    requestId: { type: 'string', description: 'Quote it when reporting the problem; it is in the server log.' },
    code: { type: 'string', description: 'A stable machine-readable code.' },
    errors: {
      type: 'array',
      description: 'Validation problems, one per invalid field.',
      items: {
        type: 'object',
        properties: { path: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
  additionalProperties: true,
};

const problem = (description: string): JsonSchema => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const ERROR_RESPONSES: Record<string, JsonSchema> = {
  BadRequest: problem('The request is not valid (body, query or path parameters; unknown keys are refused).'),
  Unauthorized: problem('No valid credential (bearer token or API key).'),
  Forbidden: problem('The credential lacks the permission this route names, or a second factor is required.'),
  TooManyRequests: problem('A rate limit was hit; Retry-After says when to try again.'),
  Error: problem('Any other error, as problem+json.'),
};

/** Path or query parameters from an object schema: one parameter per property. */
function parametersOf(schema: z.ZodType, where: 'path' | 'query'): JsonSchema[] {
  const json = jsonSchemaOf(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

function responsesOf(route: AppRoute, doc: RouteDoc): Record<string, JsonSchema> {
  const responses: Record<string, JsonSchema> = {};
  const declared = Object.entries(doc.responses ?? {});
  for (const [status, response] of declared) {
    const contentType = response.contentType ?? 'application/json';
    responses[status] = {
      description: response.description,
      content: {
        [contentType]: {
          schema: response.schema ? jsonSchemaOf(response.schema, 'output') : { type: 'object' },
        },
      },
    };
  }
  if (!declared.some(([status]) => status.startsWith('2')))
    responses['2XX'] = {
      description: 'Success.',
      content: { 'application/json': { schema: { type: 'object' } } },
    };
  responses['400'] ??= { $ref: '#/components/responses/BadRequest' };
  if (route.authenticated) responses['401'] ??= { $ref: '#/components/responses/Unauthorized' };
  if (route.permission) responses['403'] ??= { $ref: '#/components/responses/Forbidden' };
  if (route.path.startsWith('/api/')) responses['429'] ??= { $ref: '#/components/responses/TooManyRequests' };
  responses.default = { $ref: '#/components/responses/Error' };
  return responses;
}

function operationOf(route: AppRoute): JsonSchema {
  const spec = route.spec;
  const doc = spec?.doc ?? {};
  const tag = route.path.startsWith('/api/v1/') ? route.path.split('/')[3] : route.path.split('/')[1] || 'root';
  const notes = [
    doc.description,
    route.permission ? `Requires the permission \`${route.permission}\`.` : undefined,
    !route.authenticated ? 'No credential needed.' : undefined,
  ].filter(Boolean);
  const parameters = [
    ...(spec?.params ? parametersOf(spec.params, 'path') : []),
    ...(spec?.query ? parametersOf(spec.query, 'query') : []),
  ];
  // Express names path parameters even when a handler reads none: the document lists them all.
  for (const m of route.path.matchAll(/:(\w+)/g))
    if (!parameters.some((p) => p.in === 'path' && p.name === m[1]))
      parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
  return {
    operationId: `${route.method.toLowerCase()}${route.path
      .split(/[/:{}-]+/)
      .filter(Boolean)
      .map((w) => w[0].toUpperCase() + w.slice(1))
      .join('')}`,
    summary: doc.summary ?? `${route.method} ${openApiPath(route.path)}`,
    ...(notes.length ? { description: notes.join(' ') } : {}),
    tags: [tag],
    ...(route.permission ? { 'x-permission': route.permission } : {}),
    security: route.authenticated ? [{ bearerAuth: [] }, { apiKey: [] }] : [],
    ...(parameters.length ? { parameters } : {}),
    ...(spec?.body
      ? {
          requestBody: {
            // route() parses a missing body as {}: optional when the schema accepts that.
            required: !spec.body.safeParse({}).success,
            content: {
              'application/json': {
                schema: jsonSchemaOf(spec.body, 'input'),
                ...(doc.example?.body !== undefined ? { example: doc.example.body } : {}),
              },
            },
          },
        }
      : {}),
    ...(doc.example ? { 'x-example-request': doc.example } : {}),
    responses: responsesOf(route, doc),
  };
}

/** The OpenAPI 3.1 document of the app as built. */
export function buildOpenApiDocument(app: Express, info: { version: string }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of appRoutes(app)) {
    const path = openApiPath(route.path);
    const method = route.method.toLowerCase();
    paths[path] ??= {};
    // Express serves the first matching route: a later duplicate is unreachable.
    paths[path][method] ??= operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'erp-backend API',
      version: info.version,
      description:
        'Generated from the running code (src/lib/openapi.ts): paths from the Express router, inputs from ' +
        'the zod schemas the routes validate with, permissions from authorize(). Errors are RFC 9457 problem+json.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      schemas: { Problem: PROBLEM_SCHEMA },
      responses: ERROR_RESPONSES,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An access token from POST /api/v1/auth/login.',
        },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key (never both).' },
      },
    },
  };
}

/**
 * What `document` fails to describe about the app: routes it lacks, operations it lists
 * that the app does not serve, permissions that differ, and routes whose handler was not
 * built by route() or describeRoute() (their inputs would be undocumented). Empty when the
 * document covers the app exactly.
 */
export function documentDrift(app: Express, document: JsonSchema): string[] {
  const documented = (document.paths ?? {}) as Record<string, Record<string, JsonSchema>>;
  const problems: string[] = [];
  const served = new Set<string>();
  for (const route of appRoutes(app)) {
    const path = openApiPath(route.path);
    const key = `${route.method} ${path}`;
    if (served.has(key)) continue;
    served.add(key);
    const operation = documented[path]?.[route.method.toLowerCase()];
    if (!route.spec) problems.push(`${key}: handler not built by route() or describeRoute()`);
    if (!operation) problems.push(`${key}: not in the document`);
    else if (operation['x-permission'] !== route.permission)
      problems.push(
        `${key}: documented permission ${String(operation['x-permission'])}, route names ${route.permission}`,
      );
  }
  for (const [path, operations] of Object.entries(documented))
    for (const method of Object.keys(operations))
      if (!served.has(`${method.toUpperCase()} ${path}`)) problems.push(`${method.toUpperCase()} ${path}: not served`);
  return problems;
}

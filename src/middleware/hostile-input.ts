import type { RequestHandler } from 'express';
import { AppError } from '../lib/errors';

/** Keys that would let a client smuggle MongoDB operators or reach Object.prototype. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 20;

function findHostileKey(value: unknown, path: string, depth: number): { path: string; reason: string } | null {
  if (depth > MAX_DEPTH) return { path, reason: `is nested deeper than ${MAX_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findHostileKey(value[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  // Own keys, including a literal "__proto__" created by JSON.parse.
  for (const key of Object.keys(value)) {
    const here = path ? `${path}.${key}` : key;
    if (key.includes('$')) return { path: here, reason: 'contains "$" (query operators are not accepted as input)' };
    if (key.includes('.')) return { path: here, reason: 'contains "." (dotted paths are not accepted as input)' };
    if (FORBIDDEN_KEYS.has(key)) return { path: here, reason: 'is a reserved name' };
    const found = findHostileKey((value as Record<string, unknown>)[key], here, depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * Refuses, before any validation or query is built, input whose keys could become
 * MongoDB operators (`$gt`, `$where`), dotted paths, or prototype pollution
 * (`__proto__`, `constructor`). Runs on body and query; path parameters are strings that
 * each route's zod schema validates.
 */
export function rejectHostileInput(): RequestHandler {
  return (req, _res, next) => {
    for (const [part, value] of [
      ['body', req.body],
      ['query', req.query],
    ] as const) {
      const found = findHostileKey(value, '', 0);
      if (found) {
        throw AppError.validation(`The request ${part} is not acceptable.`, [
          { path: `${part}.${found.path}`, message: `key ${found.reason}` },
        ]);
      }
    }
    next();
  };
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Write routes take JSON only: a body of any other media type is a 415, not a guess. */
export function requireJsonBody(): RequestHandler {
  return (req, _res, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (BODY_METHODS.has(req.method) && hasBody && !req.is('application/json')) {
      throw new AppError({
        code: 'unsupported-media-type',
        status: 415,
        title: 'Unsupported Media Type',
        detail: 'Request bodies must be application/json.',
        headers: { 'Accept-Post': 'application/json', 'Accept-Patch': 'application/json' },
      });
    }
    next();
  };
}

const SUPPORTED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** The part of an Express router this module reads: its layers and their routes. */
interface RouterLayer {
  name: string;
  route?: { path: string | string[]; methods: Record<string, boolean | undefined> };
  handle: unknown;
}
interface RouterLike {
  stack: unknown[];
  all(path: string, handler: RequestHandler): unknown;
}

/**
 * A path that exists, asked with a method it does not serve (DELETE /health), answers 405
 * with the methods it does serve in `Allow`, not 404. Call once after every route is
 * mounted: it walks the routers and appends one catch-all per path, after its routes.
 */
export function answerWrongMethods(router: RouterLike): void {
  const methodsByPath = new Map<string, Set<string>>();
  for (const layer of router.stack as RouterLayer[]) {
    if (layer.route && typeof layer.route.path === 'string') {
      const methods = methodsByPath.get(layer.route.path) ?? new Set<string>();
      for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') methods.add(m.toUpperCase());
      methodsByPath.set(layer.route.path, methods);
    } else if (layer.name === 'router' && isRouter(layer.handle)) {
      answerWrongMethods(layer.handle);
    }
  }
  for (const [path, methods] of methodsByPath) {
    if (methods.has('GET')) methods.add('HEAD');
    const allow = [...methods].sort().join(', ');
    router.all(path, (req, _res, next) =>
      next(methodNotAllowed(`${req.method} is not supported here; use ${allow}.`, allow)),
    );
  }
}

const methodNotAllowed = (detail: string, allow: string): AppError =>
  new AppError({
    code: 'method-not-allowed',
    status: 405,
    title: 'Method Not Allowed',
    detail,
    headers: { Allow: allow },
  });

const isRouter = (h: unknown): h is RouterLike =>
  typeof h === 'function' && Array.isArray((h as { stack?: unknown }).stack);

/** TRACE, CONNECT and other methods no route uses answer 405 before reaching any router. */
export function rejectUnusedMethods(): RequestHandler {
  return (req, _res, next) => {
    if (!SUPPORTED_METHODS.includes(req.method))
      throw methodNotAllowed(`${req.method} is not supported by this API.`, SUPPORTED_METHODS.join(', '));
    next();
  };
}

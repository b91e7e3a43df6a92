import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { AppError } from '../lib/errors';
import { zodIssues } from './error-handler';

/** One documented response of a route (the OpenAPI generator reads it; src/lib/openapi.ts). */
export interface RouteResponseDoc {
  description: string;
  /** The body's schema; the output side of a zod schema is documented. Omitted: a generic JSON object. */
  schema?: z.ZodType;
  /** application/json unless given. */
  contentType?: string;
}

/** What the API document says about a route beyond its input schemas. */
export interface RouteDoc {
  summary?: string;
  description?: string;
  /** Responses by status; the 2xx ones replace the generic success response. */
  responses?: Record<number, RouteResponseDoc>;
  /** A request the contract test sends to the real app; it expects `status` and a body matching that response. */
  example?: {
    params?: Record<string, string>;
    query?: Record<string, string>;
    body?: unknown;
    status: number;
  };
}

interface Schemas {
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
  doc?: RouteDoc;
}

/** The schemas and documentation route() used, kept on the handler it returns for the OpenAPI generator. */
export interface RouteSpec {
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
  doc: RouteDoc;
}

export interface DocumentedHandler extends RequestHandler {
  routeSpec: RouteSpec;
}

/** Documents a handler that does not take its input through route() (e.g. a stream or a foreign format). */
export function describeRoute<H extends RequestHandler>(handler: H, doc: RouteDoc): H & DocumentedHandler {
  return Object.assign(handler, { routeSpec: { doc } });
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteInput<S extends Schemas> {
  body: Out<S['body']>;
  query: Out<S['query']>;
  params: Out<S['params']>;
  req: Request;
  res: Response;
}

/**
 * The one way a route takes input: each part it reads is parsed by a zod schema first
 * (strict objects, so unknown keys are rejected), and the handler receives the typed
 * result. Parts without a schema must be empty. Express 5 forwards rejected promises.
 */
export function route<S extends Schemas>(schemas: S, handler: (input: RouteInput<S>) => unknown): DocumentedHandler {
  const routeSpec: RouteSpec = {
    body: schemas.body,
    query: schemas.query,
    params: schemas.params,
    doc: schemas.doc ?? {},
  };
  const validated: RequestHandler = async (req, res) => {
    const parse = (part: 'body' | 'query' | 'params', value: unknown): unknown => {
      const schema = schemas[part];
      if (!schema) {
        const empty =
          value === undefined || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
        if (!empty)
          throw AppError.validation(`This endpoint takes no ${part === 'params' ? 'path parameters' : part}.`, [
            { path: part, message: 'not allowed here' },
          ]);
        return undefined;
      }
      const result = schema.safeParse(value ?? (part === 'body' ? {} : value));
      if (!result.success)
        throw AppError.validation(`The request ${part} is not valid.`, zodIssues(result.error, part));
      return result.data;
    };
    const input = {
      body: parse('body', req.body),
      query: parse('query', req.query),
      params: parse('params', req.params),
      req,
      res,
    } as RouteInput<S>;
    await handler(input);
  };
  return Object.assign(validated, { routeSpec });
}

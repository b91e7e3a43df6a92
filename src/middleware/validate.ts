import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { AppError } from '../lib/errors';
import { zodIssues } from './error-handler';

interface Schemas {
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
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
export function route<S extends Schemas>(schemas: S, handler: (input: RouteInput<S>) => unknown): RequestHandler {
  return async (req, res) => {
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
}

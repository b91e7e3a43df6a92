import type { Response, Router } from 'express';
import { z } from 'zod';
import { route, type RouteDoc } from '../middleware/validate';
import { ifMatchOf, sendRecord, type IfMatch } from '../lib/preconditions';
import { grantedAccess, type Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import type { RecordScope } from '../services/access/access-policy';

type Item = Record<string, unknown>;

/** What a versioned, access-controlled resource service offers its standard routes. */
export interface RecordService<ListQuery, CreateInput> {
  list(scope: RecordScope, query: ListQuery): Promise<{ items: Item[]; total: number }>;
  get(scope: RecordScope, id: string): Promise<Item>;
  create(scope: RecordScope, input: CreateInput, actorId: string): Promise<Item>;
  update(
    scope: RecordScope,
    id: string,
    raw: Item,
    actorId: string,
    parse: (body: unknown) => Item,
    ifMatch?: IfMatch,
  ): Promise<Item>;
  remove(scope: RecordScope, id: string, actorId: string, ifMatch?: IfMatch): Promise<void>;
}

export const recordId = z.strictObject({ id: z.string().uuid() });

/** The record scope authorize() decided for this request. */
export const recordScope = (res: Response): RecordScope => grantedAccess(res).scope;

/**
 * The five standard routes of a record resource — list, read, create, edit, delete — each
 * behind `<permission>:<action>`, answering records with their ETag. One place, so every
 * resource gets the same scope, precondition and validation behaviour.
 */
export function mountRecordRoutes<ListQuery extends { page: number; limit: number }, CreateInput>(
  router: Router,
  opts: {
    /** Permission prefix: `invoice` for `invoice:read`, `invoice:create`, ... */
    permission: string;
    service: RecordService<ListQuery, CreateInput>;
    authorize: Authorize;
    listQuery: z.ZodType<ListQuery>;
    createBody: z.ZodType<CreateInput>;
    patchBody: z.ZodType<Item>;
    /** Documentation (response schemas, example requests) for the API document. */
    docs?: { list?: RouteDoc; create?: RouteDoc };
  },
): void {
  const { authorize, service, permission } = opts;
  router.get(
    '/',
    authorize(`${permission}:read`),
    route({ query: opts.listQuery, doc: opts.docs?.list }, async ({ query, res }) => {
      const { items, total } = await service.list(recordScope(res), query);
      res.json({ items, page: query.page, limit: query.limit, total });
    }),
  );
  router.get(
    '/:id',
    authorize(`${permission}:read`),
    route({ params: recordId }, async ({ params, res }) => {
      sendRecord(res, await service.get(recordScope(res), params.id));
    }),
  );
  router.post(
    '/',
    authorize(`${permission}:create`),
    route({ body: opts.createBody, doc: opts.docs?.create }, async ({ body, res }) => {
      sendRecord(res, await service.create(recordScope(res), body, requireAuth(res).userId), 201);
    }),
  );
  // The body is checked against the field rules before the strict schema, so a forbidden
  // field (salary, role, owner) is a 403 naming it, not a 400.
  router.patch(
    '/:id',
    authorize(`${permission}:update`),
    route({ params: recordId, body: z.record(z.string(), z.unknown()) }, async ({ params, body, req, res }) => {
      const actorId = requireAuth(res).userId;
      const parse = (b: unknown) => opts.patchBody.parse(b);
      sendRecord(res, await service.update(recordScope(res), params.id, body, actorId, parse, ifMatchOf(req)));
    }),
  );
  router.delete(
    '/:id',
    authorize(`${permission}:delete`),
    route({ params: recordId }, async ({ params, req, res }) => {
      await service.remove(recordScope(res), params.id, requireAuth(res).userId, ifMatchOf(req));
      res.status(204).end();
    }),
  );
}

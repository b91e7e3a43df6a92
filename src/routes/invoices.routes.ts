import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { route, type RouteDoc } from '../middleware/validate';
import { ifMatchOf, sendRecord } from '../lib/preconditions';
import type { Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import type { Authenticate } from '../middleware/authenticate';
import { mountRecordRoutes, recordId, recordScope } from './record-routes';
import { INVOICE_SORTS, type InvoiceService } from '../services/invoices/invoice.service';

const fields = {
  number: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9-]{1,40}$/),
  customer: z.string().trim().min(1).max(200),
  amount: z.number().int().min(0).max(1_000_000_000_00),
  currency: z.string().regex(/^[A-Z]{3}$/),
  department: z.string().trim().min(1).max(64),
};
const createBody = z.strictObject(fields);
const patchBody = z.strictObject({
  number: fields.number.optional(),
  customer: fields.customer.optional(),
  amount: fields.amount.optional(),
  currency: fields.currency.optional(),
  department: fields.department.optional(),
});
const listQuery = z.strictObject({
  page: z.coerce.number().int().min(1).max(10_000).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  sort: z.enum(INVOICE_SORTS).default('createdAt'),
  order: z.enum(['asc', 'desc']).default('desc'),
  status: z.enum(['draft', 'approved', 'paid']).optional(),
  department: z.string().trim().min(1).max(64).optional(),
  currency: fields.currency.optional(),
});

const invoiceRecord = z.looseObject({
  id: z.string(),
  number: z.string(),
  customer: z.string(),
  amount: z.number().int(),
  currency: z.string(),
  department: z.string(),
  status: z.enum(['draft', 'approved', 'paid']),
  version: z.number().int(),
});
const LIST_DOC: RouteDoc = {
  summary: 'List invoices the caller may read, paged',
  responses: {
    200: {
      description: 'One page of invoices.',
      schema: z.strictObject({
        items: z.array(invoiceRecord),
        page: z.number().int(),
        limit: z.number().int(),
        total: z.number().int(),
      }),
    },
  },
  example: { query: { page: '1', limit: '5', status: 'draft' }, status: 200 },
};

/** /api/v1/invoices: CRUD for drafts, approve and pay actions. Paying is behind the payment rate-limit tier. */
export function invoiceRoutes(deps: {
  invoices: InvoiceService;
  authenticate: Authenticate;
  authorize: Authorize;
  paymentLimiter?: RequestHandler;
}): Router {
  const router = Router();
  const { authorize } = deps;
  router.use(deps.authenticate());
  const paymentLimiter: RequestHandler = deps.paymentLimiter ?? ((_req, _res, next) => next());

  mountRecordRoutes(router, {
    permission: 'invoice',
    service: deps.invoices,
    authorize,
    listQuery,
    createBody,
    patchBody,
    docs: { list: LIST_DOC },
  });

  router.post(
    '/:id/approve',
    authorize('invoice:approve'),
    route({ params: recordId }, async ({ params, req, res }) => {
      sendRecord(
        res,
        await deps.invoices.approve(recordScope(res), params.id, requireAuth(res).userId, ifMatchOf(req)),
      );
    }),
  );

  router.post(
    '/:id/pay',
    authorize('invoice:pay'),
    paymentLimiter,
    route({ params: recordId }, async ({ params, req, res }) => {
      sendRecord(res, await deps.invoices.pay(recordScope(res), params.id, requireAuth(res).userId, ifMatchOf(req)));
    }),
  );

  return router;
}

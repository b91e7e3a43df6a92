import { AsyncLocalStorage } from 'node:async_hooks';

/** Per-request values that every log line and audit entry can reach without threading them through calls. */
export interface RequestContext {
  requestId: string;
  ip?: string;
  userAgent?: string;
  userId?: string;
  /** The signed-in caller's role, for audit entries that do not name one. */
  userRole?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithRequestContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

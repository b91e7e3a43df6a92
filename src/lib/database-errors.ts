/**
 * The driver's (and mongoose's) errors that mean MongoDB cannot be reached right now, as
 * opposed to refusing a request (validation, duplicate key, bad query).
 */
const UNREACHABLE_ERRORS = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongooseServerSelectionError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
  'MongoPoolClearedError',
  'MongoServerClosedError',
  'MongoWaitQueueTimeoutError',
]);

/** Whether `err` or one of the errors it wraps (its `cause` chain, a few levels deep) passes `test`. */
function anyCause(err: unknown, test: (e: { name?: string; message?: string; code?: unknown }) => boolean): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if (test(e as { name?: string; message?: string; code?: unknown })) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Whether `err` (or an error it wraps) is a request that waited MONGODB_WAIT_QUEUE_TIMEOUT_MS
 * for a pooled connection: the database answers, but too slowly for the load.
 */
export function isDatabaseBusy(err: unknown): boolean {
  return anyCause(err, (e) => e.name === 'MongoWaitQueueTimeoutError');
}

/** Whether `err` (or an error it wraps) says MongoDB cannot be reached; validation and duplicate-key errors do not. */
export function isDatabaseUnreachable(err: unknown): boolean {
  return anyCause(
    err,
    ({ name, message, code }) =>
      (name !== undefined && UNREACHABLE_ERRORS.has(name)) ||
      // mongoose queues commands while disconnected and gives up with this.
      (name === 'MongooseError' && /buffering timed out/.test(message ?? '')) ||
      // A command written just as the server closed its connection can surface as the socket's
      // own error ("This socket has been ended by the other party"), not wrapped by the driver.
      (name === 'Error' && (code === 'EPIPE' || code === 'ECONNRESET')),
  );
}

import type request from 'supertest';

/**
 * An unexpected failure as the client must see it: a generic 500 problem+json with the
 * request id, and none of `internals` (stack frames, driver or library messages).
 */
export function expectGeneric500(res: request.Response, instance: string, internals: RegExp): void {
  expect(res.status).toBe(500);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual({
    type: expect.stringMatching(/internal-error$/),
    title: 'Internal Server Error',
    status: 500,
    detail: 'An unexpected error occurred.',
    instance,
    requestId: res.headers['x-request-id'],
  });
  expect(res.text).not.toMatch(internals);
}

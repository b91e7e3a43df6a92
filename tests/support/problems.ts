import type request from 'supertest';

/**
 * An RFC 9457 problem as every error answer must be: the status, application/problem+json,
 * the status repeated in the body with the request id of the response, and (when given)
 * a `type` matching `type`.
 */
export function expectProblem(res: request.Response, status: number, type?: RegExp): void {
  expect({ status: res.status, contentType: res.headers['content-type'] }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/problem\+json/),
  });
  expect(res.body).toMatchObject({
    status,
    type: type ? expect.stringMatching(type) : expect.any(String),
    requestId: res.headers['x-request-id'],
  });
}

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

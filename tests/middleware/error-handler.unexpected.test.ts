import { expectGeneric500 } from '../support/problems';
import { buildTestApp, type TestApp } from '../support/app';
import { createUser, login } from '../support/users';

/**
 * An unexpected exception inside a real route: a library throws on stored data the
 * application did not expect (a user record whose password hash was removed behind its back).
 */
describe('unexpected failures inside a real route', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', RATE_LIMIT_AUTH: '1000/900' });
  });
  afterAll(() => t.close());

  it('when bcrypt throws during login, then 500 problem+json without stack or internal message, logged with the cause under the response request id', async () => {
    const id = await createUser(t, 'nohash@errors-unexpected.example');
    await t.container.database
      .db()
      .collection('users')
      .updateOne({ _id: id as never }, { $unset: { passwordHash: '' } });

    const res = await login(t, 'nohash@errors-unexpected.example');
    expectGeneric500(
      res,
      '/api/v1/auth/login',
      /bcrypt|hash|arguments required|stack|at \S+ \(|node_modules|\.ts:\d+/i,
    );
    expect(res.body.accessToken).toBeUndefined();

    t.logger.flush();
    const mine = t.logs.records().filter((r) => r.requestId === res.headers['x-request-id']);
    const failed = mine.find((r) => r.msg === 'request failed');
    expect(failed).toMatchObject({ level: 'error', code: 'internal-error' });
    expect(JSON.stringify(failed)).toMatch(/data and hash arguments required/);
    expect(mine.find((r) => r.msg === 'request completed')).toMatchObject({ level: 'error', res: { statusCode: 500 } });
  });
});

import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../../support/app';
import { createUser } from '../../support/users';
import { RecipientResolver } from '../../../src/services/alerts/routing';

describe('RecipientResolver without the database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { ...ROUTE_TEST_ENV });
    await createUser(t, 'Admin.One@offline.example', 'admin');
  });
  afterAll(() => t.close());

  it('when a role was never resolved, then it is reported unresolved; once resolved, its last contacts are used', async () => {
    const resolver = new RecipientResolver({ users: t.container.models.User });
    expect(resolver.resolveWithoutDatabase('email', ['role:admin', 'OnCall@Example.com'])).toEqual({
      recipients: ['oncall@example.com'],
      unresolved: ['role:admin'],
    });
    expect(await resolver.resolve('email', ['role:admin'])).toEqual(['admin.one@offline.example']);
    expect(resolver.resolveWithoutDatabase('email', ['role:admin', 'oncall@example.com'])).toEqual({
      recipients: ['admin.one@offline.example', 'oncall@example.com'],
      unresolved: [],
    });
    // Per channel: the SMS contacts of the role are still unknown.
    expect(resolver.resolveWithoutDatabase('sms', ['role:admin', '+15550001111'])).toEqual({
      recipients: ['+15550001111'],
      unresolved: ['role:admin'],
    });
    expect(resolver.resolveWithoutDatabase('slack', ['ops'])).toEqual({ recipients: ['ops'], unresolved: [] });
  });
});

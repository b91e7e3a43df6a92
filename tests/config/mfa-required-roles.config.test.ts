import { ConfigError, loadConfig } from '../../src/config';

describe('MFA_REQUIRED_ROLES', () => {
  it('when it names a role that is not a base role, then the configuration is refused naming the base roles', () => {
    let problems: string[] = [];
    try {
      loadConfig({ NODE_ENV: 'development', MFA_REQUIRED_ROLES: 'manager,team-lead' });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/MFA_REQUIRED_ROLES.*base roles only \(guest, user, manager, admin\)/),
    ]);
  });

  it('when it lists base roles with spaces and empty entries, then they are trimmed', () => {
    expect(
      loadConfig({ NODE_ENV: 'development', MFA_REQUIRED_ROLES: ' admin , manager ,' }).auth.mfaRequiredRoles,
    ).toEqual(['admin', 'manager']);
  });
});

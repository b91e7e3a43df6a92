import { loadConfig } from '../../src/config';
import { configProblems } from '../support/config';

const dev = (env: Record<string, string>) => ({ NODE_ENV: 'development', ...env });

describe('passkey configuration', () => {
  it('when nothing is set, then passkeys have no origins (off), no passwordless roles and a 5-minute challenge', () => {
    expect(loadConfig(dev({})).passkeys).toEqual({
      rpId: 'localhost',
      rpName: 'ERP',
      origins: [],
      passwordlessRoles: [],
      challengeTtlSeconds: 300,
    });
  });

  it('when only CORS_ORIGINS is set, then the RP id is the first origin’s host and the origins are the CORS ones under it', () => {
    const config = loadConfig(
      dev({ CORS_ORIGINS: 'https://erp.example.com,https://admin.erp.example.com,https://partner.example.org' }),
    );
    expect(config.passkeys.rpId).toBe('erp.example.com');
    expect(config.passkeys.origins).toEqual(['https://erp.example.com', 'https://admin.erp.example.com']);
  });

  it('when a passkey origin is not in CORS_ORIGINS or outside the RP id, then the configuration is refused naming it', () => {
    const notAllowed = configProblems(
      dev({ CORS_ORIGINS: 'https://erp.example.com', PASSKEY_ORIGINS: 'https://erp.example.com,https://evil.example' }),
    ).join('\n');
    expect(notAllowed).toMatch(/PASSKEY_ORIGINS: "https:\/\/evil\.example" is not in CORS_ORIGINS/);
    const outside = configProblems(
      dev({
        CORS_ORIGINS: 'https://erp.example.com,https://other.example.org',
        PASSKEY_ORIGINS: 'https://other.example.org',
        PASSKEY_RP_ID: 'erp.example.com',
      }),
    ).join('\n');
    expect(outside).toMatch(
      /PASSKEY_ORIGINS: the host of "https:\/\/other\.example\.org" is neither "erp\.example\.com"/,
    );
  });

  it('when the RP id is an IP address or carries a scheme, then it is refused', () => {
    expect(configProblems(dev({ PASSKEY_RP_ID: '127.0.0.1' })).join('\n')).toMatch(/PASSKEY_RP_ID: an IP address/);
    expect(configProblems(dev({ PASSKEY_RP_ID: 'https://erp.example.com' })).join('\n')).toMatch(
      /PASSKEY_RP_ID: .* must be a domain name/,
    );
  });

  it('when passwordless roles and a subdomain origin are given, then they are kept', () => {
    const config = loadConfig(
      dev({
        CORS_ORIGINS: 'https://app.erp.example.com',
        PASSKEY_RP_ID: 'erp.example.com',
        PASSKEY_PASSWORDLESS_ROLES: 'manager, user',
      }),
    );
    expect(config.passkeys).toMatchObject({
      rpId: 'erp.example.com',
      origins: ['https://app.erp.example.com'],
      passwordlessRoles: ['manager', 'user'],
    });
  });
});

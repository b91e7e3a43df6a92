import { mask, maskEmail, maskPhone, maskTail } from '../../../src/services/encryption/masking';

describe('masking helpers', () => {
  it('when a long value is tail-masked, then only the last four characters show', () => {
    expect(maskTail('DE89370400440532013000')).toBe('****3000');
    expect(maskTail('123-45-6789')).toBe('****6789');
    expect(maskTail('ab€defghij', 2)).toBe('****ij');
  });

  it('when a value is too short to hide anything behind the visible tail, then nothing of it shows', () => {
    expect(maskTail('12345')).toBe('*****');
    expect(maskTail('1234')).toBe('****');
    expect(maskTail('12')).toBe('****');
  });

  it('when zero, negative or fractional characters are to stay visible, then none do', () => {
    for (const visible of [0, -1, -4, 1.5, Number.NaN])
      expect(maskTail('DE89370400440532013000', visible)).toBe('****');
  });

  it('when an email is masked, then the first letter and the domain stay', () => {
    expect(maskEmail('jane.doe@example.com')).toBe('j***@example.com');
    expect(maskEmail('j@example.com')).toBe('j***@example.com');
    expect(maskEmail('not-an-email-address')).toBe('****ress');
  });

  it('when a phone number is masked, then at most the last two digits show', () => {
    expect(maskPhone('+49 170 1234567')).toBe('+********67');
    expect(maskPhone('0170 1234567')).toMatch(/^\*+67$/);
    expect(maskPhone('123')).toBe('****');
  });

  it('when the value is empty or missing, then the mask is empty rather than a fake value', () => {
    expect(maskTail('')).toBe('');
    expect(maskTail(null)).toBe('');
    expect(maskEmail(undefined)).toBe('');
    expect(maskPhone(null)).toBe('');
  });

  it('when masking by kind, then full hides everything and non-strings are not printed', () => {
    expect(mask('full', 'secret')).not.toContain('secret');
    expect(mask('tail', 'DE89370400440532013000')).toBe('****3000');
    expect(mask('email', 'jane@example.com')).toBe('j***@example.com');
  });
});

import { PasswordHasher } from '../../../src/services/encryption/password-hasher';

describe('PasswordHasher', () => {
  it('when a password is 128 characters the way people count them (emoji are two UTF-16 units), then it hashes and verifies', async () => {
    const hasher = new PasswordHasher(10);
    const emoji = '🔐'.repeat(100) + 'x'.repeat(28);
    expect([...emoji].length).toBe(128);
    const hash = await hasher.hash(emoji);
    expect(await hasher.verify(emoji, hash)).toBe(true);
    expect(await hasher.verify('🔐'.repeat(99) + 'x'.repeat(28), hash)).toBe(false);
    await expect(hasher.hash(emoji + 'y')).rejects.toThrow(/longer than 128/);
  });

  it('when two long passwords share their first 72 bytes, then neither verifies against the other', async () => {
    const hasher = new PasswordHasher(10);
    const prefix = 'x'.repeat(72);
    const hash = await hasher.hash(prefix + 'tail-one');
    expect(await hasher.verify(prefix + 'tail-one', hash)).toBe(true);
    expect(await hasher.verify(prefix + 'tail-two', hash)).toBe(false);
  });

  it('when the cost is below 10, then construction is refused; when the cost changes, then old hashes still verify', async () => {
    expect(() => new PasswordHasher(9)).toThrow();
    const old = await new PasswordHasher(10).hash('correct horse battery staple');
    const hasher = new PasswordHasher(11);
    expect(await hasher.verify('correct horse battery staple', old)).toBe(true);
    expect(hasher.needsRehash(old)).toBe(true);
  });

  it('when a password is longer than 128 characters, then hashing refuses and verify is false', async () => {
    const hasher = new PasswordHasher(10);
    await expect(hasher.hash('y'.repeat(129))).rejects.toThrow();
    expect(await hasher.verify('y'.repeat(129), await hasher.hash('y'.repeat(128)))).toBe(false);
  });
});

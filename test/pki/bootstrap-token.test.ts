import { describe, expect, it } from 'vitest';
import {
  bootstrapTokenPattern,
  generateBootstrapToken,
  parseBootstrapToken,
} from '../../src/pki/bootstrap-token.js';

describe('generateBootstrapToken', () => {
  it('produces kubeadm-format tokens that differ each time', () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const t = generateBootstrapToken();
      expect(t.token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
      expect(t.token).toBe(`${t.id}.${t.secret}`);
      tokens.add(t.token);
    }
    expect(tokens.size).toBe(200);
  });

  it('drops bytes that would bias the alphabet (252..255) instead of wrapping them', () => {
    // With a plain modulo 255 would map to 'd' (255 % 36 = 3), making a-d more likely; it must be skipped.
    const feed = [255, 252, 0, 253, 35, 254, 26];
    let i = 0;
    const random = (size: number) => Uint8Array.from({ length: size }, () => feed[i++ % feed.length]!);
    const token = generateBootstrapToken(random);
    // Accepted bytes 0, 35, 26 map to 'a', '9', '0'; no 'h' or other letter from a wrapped byte appears.
    expect(token.id).toBe('a90a90');
    expect(token.secret).toMatch(/^[a90]{16}$/);
  });

  it('accepts only well-formed tokens when parsing', () => {
    expect(parseBootstrapToken('abcdef.0123456789abcdef\n')).toEqual({
      id: 'abcdef',
      secret: '0123456789abcdef',
      token: 'abcdef.0123456789abcdef',
    });
    expect(parseBootstrapToken('ABCDEF.0123456789abcdef')).toBeUndefined();
    expect(parseBootstrapToken('abcde.0123456789abcdef')).toBeUndefined();
    expect(bootstrapTokenPattern.test('abcdef.0123456789abcdeg1')).toBe(false);
  });
});

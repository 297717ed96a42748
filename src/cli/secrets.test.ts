// Typing a hidden password: the line editing of the no-echo prompt, and generated passwords.
import { describe, expect, it } from 'vitest';
import { editHidden, generatePassword } from './secrets.js';

describe('editHidden', () => {
  it('ends at Enter, ignoring what follows', () => {
    expect(editHidden('', 's3cret\rmore')).toEqual({ value: 's3cret', state: 'done' });
    expect(editHidden('ab', 'c')).toEqual({ value: 'abc', state: 'typing' });
    expect(editHidden('ab', '\u0004')).toEqual({ value: 'ab', state: 'done' });
  });

  it('handles Backspace (one character, even outside the BMP), Ctrl-U and Ctrl-C', () => {
    expect(editHidden('pä😀', '\u007f')).toEqual({ value: 'pä', state: 'typing' });
    expect(editHidden('abc', '\b\bx\n')).toEqual({ value: 'ax', state: 'done' });
    expect(editHidden('abc', '\u0015d\r')).toEqual({ value: 'd', state: 'done' });
    expect(editHidden('abc', '\u0003')).toEqual({ value: '', state: 'aborted' });
    expect(editHidden('a', '\u001b[A\u001b[3~b\u001bOH')).toEqual({ value: 'ab', state: 'typing' });
  });
});

it('generates 24-character URL-safe passwords, each different', () => {
  const a = generatePassword();
  expect(a).toMatch(/^[A-Za-z0-9_-]{24}$/);
  expect(generatePassword()).not.toBe(a);
});

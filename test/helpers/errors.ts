// Catching the BerthError a synchronous call throws, for assertions on its code and message.
import { expect } from 'vitest';
import { BerthError } from '../../src/core/errors.js';

export function errorOf(f: () => unknown): BerthError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return e as BerthError;
  }
  throw new Error('expected an error');
}

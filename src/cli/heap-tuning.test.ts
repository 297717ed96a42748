// The heap setting of `berth serve`: given unless the command line gives its own.
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, heapFlags } from './heap-tuning.js';

describe('heapFlags', () => {
  it('sets the old generation to grow to three times the live heap when the command line says nothing', () => {
    expect(HEAP_GROWING_PERCENT).toBe(200);
    expect(heapFlags([])).toEqual(['--heap-growing-percent=200']);
    expect(heapFlags(['--enable-source-maps', '--max-old-space-size=512'])).toEqual([
      '--heap-growing-percent=200',
    ]);
  });

  it("leaves the growth to the operator's own flag, in either spelling V8 reads", () => {
    expect(heapFlags(['--heap-growing-percent=50'])).toEqual([]);
    expect(heapFlags(['--heap_growing_percent=50'])).toEqual([]);
    expect(heapFlags(['--heap-growing-percent', '50'])).toEqual([]);
  });
});

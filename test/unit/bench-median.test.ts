// The figure make bench-ratio publishes is a median of a handful of pairs: with an even number, the mean of the middle two.
import { expect, test } from '@jest/globals';
import { median } from '../../bench/cluster.ts';

test('the median of an odd number of ratios is the middle one, whatever the order', () => {
  expect(median([1.64, 1.27, 1.51])).toBe(1.51);
  expect(median([1.3])).toBe(1.3);
});

test('the median of an even number of ratios is the mean of the middle two, not the lower one', () => {
  expect(median([1.34, 1.47, 1.64, 1.28])).toBeCloseTo(1.405, 10);
  expect(median([2, 1])).toBe(1.5);
});

test('the median leaves its input as it was', () => {
  const ratios = [1.64, 1.27, 1.51];
  median(ratios);
  expect(ratios).toEqual([1.64, 1.27, 1.51]);
});

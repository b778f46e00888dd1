import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { canonicalQuantity, compareQuantities, parseQuantity, QuantityError } from './quantity.ts';

describe('canonicalQuantity: the form the API server stores', () => {
  // Pairs from k8s.io/apimachinery's quantity tests and from what a cluster returns.
  test.each([
    ['1Ki', '1Ki'],
    ['1024Mi', '1Gi'],
    ['1000M', '1G'],
    ['1.5Gi', '1536Mi'],
    ['0.5Mi', '512Ki'],
    ['.001Ki', '1024m'],
    ['.000000000001Ki', '2n'],
    ['1.1Ki', '1126400m'],
    ['9Ei', '9223372036854775807'],
    ['1.5', '1500m'],
    ['0.5', '500m'],
    ['0.1', '100m'],
    ['1000m', '1'],
    ['1000', '1k'],
    ['1500', '1500'],
    ['1.08', '1080m'],
    ['0.001e12', '1e9'],
    ['1000E', '1e21'],
    ['3.001n', '4n'],
    ['0.9n', '1n'],
    ['0Gi', '0'],
    ['0m', '0'],
    ['-1024Mi', '-1Gi'],
  ])('%s is stored as %s', (input, stored) => {
    expect(canonicalQuantity(input)).toBe(stored);
  });

  // apimachinery keeps the text as written when its int64 fast path finds it canonical enough.
  test.each(['100m', '1Gi', '4', '2', '128974848', '129e6', '129M', '123Mi', '80e-3', '1E3', '+1', '01', '1.500', '1.G'])(
    '%s is kept as written',
    (input) => {
      expect(canonicalQuantity(input)).toBe(input);
    },
  );

  test.each(['', '1.1.M', '1+1.0M', '0.1mi', '0.1am', 'aoeu', '.5i', '1i', '-3.01i', '-3.01e-', ' 1', '1 ', '1e99999'])(
    '%j is refused',
    (input) => {
      expect(() => parseQuantity(input)).toThrow(QuantityError);
    },
  );

  test('canonical forms are fixed points and keep the value', () => {
    const quantity = fc
      .tuple(
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.integer({ min: 0, max: 4 }),
        fc.constantFrom('', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'Ki', 'Mi', 'Gi', 'Ti', 'e3', 'e-2'),
      )
      .map(([digits, decimals, suffix]) => {
        const text = digits.toString().padStart(decimals + 1, '0');
        return `${decimals > 0 ? `${text.slice(0, -decimals)}.${text.slice(-decimals)}` : text}${suffix}`;
      });
    fc.assert(
      fc.property(quantity, (text) => {
        const parsed = parseQuantity(text);
        const again = parseQuantity(parsed.text);
        expect(again.text).toBe(parsed.text);
        expect(again.nanos).toBe(parsed.nanos);
      }),
      { numRuns: 500 },
    );
  });
});

describe('compareQuantities', () => {
  test.each([
    ['100m', '50m', 1],
    ['50m', '100m', -1],
    ['1', '1000m', 0],
    ['1Gi', '1024Mi', 0],
    ['1G', '1Gi', -1],
    ['10000T', '100Gi', 1],
    ['500m', '0.5', 0],
  ])('%s vs %s is %i', (a, b, expected) => {
    expect(compareQuantities(parseQuantity(a), parseQuantity(b))).toBe(expected);
  });
});

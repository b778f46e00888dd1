import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type { LabelSelector, LabelSelectorRequirement } from './types.ts';
import { canonicalSelector, matchesSelector, selectorToString, validateSelector } from './labelselector.ts';

describe('matchesSelector', () => {
  const labels = { tenant: 'true', tier: 'gold', 'kubernetes.io/metadata.name': 'team-a' };

  test('the empty selector matches everything, including no labels', () => {
    expect(matchesSelector({}, labels)).toBe(true);
    expect(matchesSelector({}, {})).toBe(true);
    expect(matchesSelector({ matchLabels: {}, matchExpressions: [] }, {})).toBe(true);
  });

  test('matchLabels needs every pair', () => {
    expect(matchesSelector({ matchLabels: { tenant: 'true' } }, labels)).toBe(true);
    expect(matchesSelector({ matchLabels: { tenant: 'true', tier: 'silver' } }, labels)).toBe(false);
    expect(matchesSelector({ matchLabels: { missing: '' } }, labels)).toBe(false);
  });

  test('operators', () => {
    const match = (requirement: LabelSelectorRequirement, on: Record<string, string> = labels): boolean =>
      matchesSelector({ matchExpressions: [requirement] }, on);
    expect(match({ key: 'tier', operator: 'In', values: ['gold', 'silver'] })).toBe(true);
    expect(match({ key: 'tier', operator: 'In', values: ['silver'] })).toBe(false);
    expect(match({ key: 'absent', operator: 'In', values: ['x'] })).toBe(false);
    expect(match({ key: 'tier', operator: 'NotIn', values: ['gold'] })).toBe(false);
    expect(match({ key: 'tier', operator: 'NotIn', values: ['silver'] })).toBe(true);
    expect(match({ key: 'absent', operator: 'NotIn', values: ['x'] })).toBe(true);
    expect(match({ key: 'tier', operator: 'Exists' })).toBe(true);
    expect(match({ key: 'absent', operator: 'Exists' })).toBe(false);
    expect(match({ key: 'tier', operator: 'DoesNotExist' })).toBe(false);
    expect(match({ key: 'absent', operator: 'DoesNotExist' })).toBe(true);
  });

  test('matchLabels and matchExpressions are ANDed', () => {
    const selector: LabelSelector = {
      matchLabels: { tenant: 'true' },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }],
    };
    expect(matchesSelector(selector, labels)).toBe(true);
    expect(matchesSelector(selector, { tenant: 'true', tier: 'bronze' })).toBe(false);
    expect(matchesSelector(selector, { tier: 'gold' })).toBe(false);
  });

  test('labels are looked up as own keys only', () => {
    expect(matchesSelector({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {})).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, {})).toBe(true);
  });

  // A reference that reasons per key instead of per requirement: each requirement
  // narrows the set of states a key may be in (absent or one of the values), and
  // the labels match when every key's state is in the intersection.
  const KEYS = ['a', 'b', 'c'] as const;
  const VALUES = ['x', 'y', 'z'] as const;
  const ABSENT = Symbol('absent');
  type State = (typeof VALUES)[number] | typeof ABSENT;
  const ALL_STATES: readonly State[] = [ABSENT, ...VALUES];

  function allowedStates(requirement: LabelSelectorRequirement): Set<State> {
    const values = new Set<State>(requirement.values as State[]);
    switch (requirement.operator) {
      case 'In':
        return values;
      case 'NotIn':
        return new Set(ALL_STATES.filter((state) => !values.has(state)));
      case 'Exists':
        return new Set(VALUES);
      case 'DoesNotExist':
        return new Set([ABSENT]);
    }
  }

  function reference(selector: LabelSelector, labels: Record<string, string>): boolean {
    const requirements: LabelSelectorRequirement[] = [
      ...Object.entries(selector.matchLabels ?? {}).map(([key, value]): LabelSelectorRequirement => ({ key, operator: 'In', values: [value] })),
      ...(selector.matchExpressions ?? []),
    ];
    return KEYS.every((key) => {
      const state: State = (labels[key] as State | undefined) ?? ABSENT;
      return requirements.filter((r) => r.key === key).every((r) => allowedStates(r).has(state));
    });
  }

  const key = fc.constantFrom(...KEYS);
  const value = fc.constantFrom(...VALUES);
  const requirement: fc.Arbitrary<LabelSelectorRequirement> = fc.oneof(
    fc.record({ key, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }) }),
    fc.record({ key, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
  );
  const selector: fc.Arbitrary<LabelSelector> = fc.record(
    { matchLabels: fc.dictionary(key, value, { maxKeys: 3 }), matchExpressions: fc.array(requirement, { maxLength: 4 }) },
    { requiredKeys: [] },
  );
  const labelSet = fc.dictionary(key, value, { maxKeys: 3 });

  test('agrees with a per-key brute-force reference', () => {
    fc.assert(fc.property(selector, labelSet, (s, l) => matchesSelector(s, l) === reference(s, l)), { numRuns: 2000 });
  });

  test('every label set over a small universe: agrees exhaustively for generated selectors', () => {
    const universe: Record<string, string>[] = [{}];
    for (const k of KEYS) {
      for (const partial of [...universe]) {
        for (const v of VALUES) universe.push({ ...partial, [k]: v });
      }
    }
    expect(universe).toHaveLength(64);
    fc.assert(fc.property(selector, (s) => universe.every((l) => matchesSelector(s, l) === reference(s, l))), { numRuns: 200 });
  });

  test('its string form selects the same label sets (checked by a small parser of that form)', () => {
    fc.assert(
      fc.property(selector, labelSet, (s, l) => {
        const text = selectorToString(s);
        expect(text).toBeDefined();
        return parseSelectorString(text as string).every((predicate) => predicate(l)) === matchesSelector(s, l);
      }),
      { numRuns: 1000 },
    );
  });
});

/** A deliberately simple parser of the label-selector string form, as a test oracle. */
function parseSelectorString(text: string): ((labels: Record<string, string>) => boolean)[] {
  if (text === '') return [];
  const parts = text.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  return parts.map((part) => {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+) (in|notin) \((.*)\)$/))) {
      const [, key = '', op, list = ''] = m;
      const values = list.split(',');
      return (labels) => (op === 'in' ? key in labels && values.includes(labels[key] as string) : !(key in labels) || !values.includes(labels[key] as string));
    }
    if ((m = part.match(/^!(\S+)$/))) {
      const key = m[1] as string;
      return (labels) => !(key in labels);
    }
    if ((m = part.match(/^([^=]+)=(.*)$/))) {
      const [, key = '', value] = m;
      return (labels) => labels[key] === value;
    }
    return (labels) => part in labels;
  });
}

describe('validateSelector', () => {
  test('a valid selector has no problems', () => {
    expect(
      validateSelector({
        matchLabels: { 'kubernetes.io/metadata.name': 'team-a', empty: '' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['gold'] },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
    ).toEqual([]);
  });

  test('In and NotIn need values; Exists and DoesNotExist take none', () => {
    expect(
      validateSelector(
        {
          matchExpressions: [
            { key: 'a', operator: 'In', values: [] },
            { key: 'b', operator: 'NotIn' },
            { key: 'c', operator: 'Exists', values: ['x'] },
            { key: 'd', operator: 'DoesNotExist', values: ['y'] },
          ],
        },
        'spec.namespaceSelector',
      ),
    ).toEqual([
      { field: 'spec.namespaceSelector.matchExpressions[0].values', message: 'operator In needs at least one value' },
      { field: 'spec.namespaceSelector.matchExpressions[1].values', message: 'operator NotIn needs at least one value' },
      { field: 'spec.namespaceSelector.matchExpressions[2].values', message: 'operator Exists takes no values' },
      { field: 'spec.namespaceSelector.matchExpressions[3].values', message: 'operator DoesNotExist takes no values' },
    ]);
  });

  test('unknown operators and malformed keys and values are reported', () => {
    const problems = validateSelector({
      matchLabels: { 'Bad/key': 'ok', good: 'not valid!' },
      matchExpressions: [{ key: 'a/b/c', operator: 'Like' as never, values: ['x'] }],
    });
    expect(problems.map((problem) => problem.field)).toEqual([
      'selector.matchLabels',
      'selector.matchLabels.good',
      'selector.matchExpressions[0].key',
      'selector.matchExpressions[0].operator',
    ]);
    expect(problems[3]?.message).toMatch(/unknown operator "Like"/);
  });

  test('label names and values are limited to 63 characters', () => {
    const long = 'a'.repeat(64);
    expect(validateSelector({ matchLabels: { [long]: 'x' } })).toHaveLength(1);
    expect(validateSelector({ matchLabels: { x: long } })).toHaveLength(1);
    expect(validateSelector({ matchLabels: { ['a'.repeat(63)]: 'a'.repeat(63) } })).toEqual([]);
  });
});

describe('selectorToString', () => {
  test('the empty selector is the empty string (everything)', () => {
    expect(selectorToString({})).toBe('');
  });

  test('all operators, sorted by key, values sorted', () => {
    expect(
      selectorToString({
        matchLabels: { tenant: 'true' },
        matchExpressions: [
          { key: 'zone', operator: 'NotIn', values: ['b', 'a'] },
          { key: 'legacy', operator: 'DoesNotExist' },
          { key: 'app', operator: 'Exists' },
          { key: 'tier', operator: 'In', values: ['silver', 'gold'] },
        ],
      }),
    ).toBe('app,!legacy,tenant=true,tier in (gold,silver),zone notin (a,b)');
  });

  test('an invalid selector has no string form', () => {
    expect(selectorToString({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] })).toBeUndefined();
  });
});

describe('canonicalSelector', () => {
  test('drops empty parts, sorts matchLabels and copies', () => {
    const values = ['x'];
    const input: LabelSelector = {
      matchLabels: { b: '2', a: '1' },
      matchExpressions: [
        { key: 'k', operator: 'In', values },
        { key: 'e', operator: 'Exists', values: [] },
      ],
    };
    const canonical = canonicalSelector(input);
    expect(canonical).toEqual({
      matchLabels: { a: '1', b: '2' },
      matchExpressions: [
        { key: 'k', operator: 'In', values: ['x'] },
        { key: 'e', operator: 'Exists' },
      ],
    });
    expect(Object.keys(canonical.matchLabels ?? {})).toEqual(['a', 'b']);
    expect(canonical.matchExpressions?.[0]?.values).not.toBe(values);
    expect(canonicalSelector({ matchLabels: {}, matchExpressions: [] })).toEqual({});
  });
});

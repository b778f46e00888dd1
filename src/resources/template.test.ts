import { describe, expect, test } from '@jest/globals';
import { SpecError } from './errors.ts';
import { expandTemplate } from './template.ts';

const namespace = { name: 'team-a', labels: { team: 'alpha', 'example.com/owner': 'alice', empty: '' } };
const expand = (template: string) => expandTemplate(template, namespace, 'spec.roleBindings[0].subjects[1].name');

describe('expandTemplate', () => {
  test('${namespace} and ${label:KEY}', () => {
    expect(expand('${namespace}-admins')).toBe('team-a-admins');
    expect(expand('${label:team}:${label:example.com/owner}@${namespace}')).toBe('alpha:alice@team-a');
    expect(expand('plain')).toBe('plain');
    expect(expand('costs $5 {not a placeholder}')).toBe('costs $5 {not a placeholder}');
    expect(expand('x${label:empty}y')).toBe('xy');
  });

  test('a label the namespace lacks is an error at the field', () => {
    expect(() => expand('${label:missing}')).toThrow(
      new SpecError('spec.roleBindings[0].subjects[1].name', '${label:missing}: namespace "team-a" has no label "missing"'),
    );
    expect(() => expand('${label:constructor}')).toThrow(SpecError);
  });

  test('unknown and unterminated placeholders are errors', () => {
    expect(() => expand('${name}')).toThrow(
      new SpecError('spec.roleBindings[0].subjects[1].name', 'unknown placeholder ${name}; use ${namespace} or ${label:KEY}'),
    );
    expect(() => expand('${label:}')).toThrow(/unknown placeholder/);
    expect(() => expand('${namespace')).toThrow(/unterminated placeholder/);
  });
});

import { describe, expect, test } from '@jest/globals';
import type { V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';
import fc from 'fast-check';
import type { SecurityBaseline, SecurityBaselineSpec } from '../api/types.ts';
import { SpecError } from './errors.ts';
import {
  allowedPrefixes, bindingNamespaceSelector, buildImagePolicy, celString, celStringList, imageAllowed, imageReferenceVariables, normalizeImage,
  normalizePrefix,
  type ValidatingAdmissionPolicyBindingObject, type ValidatingAdmissionPolicyObject,
} from './imagepolicy.ts';

const LABELS = { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' };
const ALWAYS_EXCLUDED = ['kube-system', 'kube-public', 'kube-node-lease'];

function baseline(spec: Partial<SecurityBaselineSpec>, name = 'tenants'): SecurityBaseline {
  return {
    apiVersion: 'security.baseline.dev/v1alpha1',
    kind: 'SecurityBaseline',
    metadata: { name },
    spec: { namespaceSelector: {}, ...spec },
  };
}

function build(allowedRegistries: string[], spec: Partial<SecurityBaselineSpec> = {}) {
  const [policy, binding, ...rest] = buildImagePolicy(baseline({ imagePolicy: { allowedRegistries }, ...spec }), 'sbo-system');
  expect(rest).toEqual([]);
  return { policy: policy as ValidatingAdmissionPolicyObject, binding: binding as ValidatingAdmissionPolicyBindingObject };
}

function variable(policy: ValidatingAdmissionPolicyObject, name: string): string {
  const found = policy.spec.variables?.find((v) => v.name === name);
  if (!found) throw new Error(`no variable ${name}`);
  return found.expression;
}

/**
 * Reads one CEL string literal (double-quoted, single line) starting at `at`,
 * following the escapes of the CEL language definition, independently of
 * celString. Returns the value and the index after the closing quote.
 */
function readCelString(text: string, at: number): { value: string; end: number } {
  if (text[at] !== '"') throw new Error(`expected " at ${at}`);
  const simple: Record<string, string> = {
    '\\': '\\', '?': '?', '"': '"', "'": "'", '`': '`', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
  };
  let value = '';
  let i = at + 1;
  const hex = (digits: number): number => {
    const chunk = text.slice(i, i + digits);
    if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(chunk)) throw new Error(`bad hex escape at ${i}`);
    i += digits;
    return parseInt(chunk, 16);
  };
  const codePoint = (code: number): string => {
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new Error(`invalid code point ${code}`);
    return String.fromCodePoint(code);
  };
  for (;;) {
    const char = text[i];
    if (char === undefined || char === '\n' || char === '\r') throw new Error('unterminated string');
    i++;
    if (char === '"') return { value, end: i };
    if (char !== '\\') {
      value += char;
      continue;
    }
    const escape = text[i++] ?? '';
    if (escape in simple) value += simple[escape];
    else if (escape === 'x' || escape === 'X') value += codePoint(hex(2));
    else if (escape === 'u') value += codePoint(hex(4));
    else if (escape === 'U') value += codePoint(hex(8));
    else if (/[0-3]/.test(escape) && /^[0-7]{2}$/.test(text.slice(i, i + 2))) {
      value += codePoint(parseInt(escape + text.slice(i, i + 2), 8));
      i += 2;
    } else throw new Error(`invalid escape \\${escape}`);
  }
}

/** Reads a CEL list literal of string literals, as celStringList writes it. */
function readCelStringList(text: string): string[] {
  if (text[0] !== '[' || text.at(-1) !== ']') throw new Error('not a list literal');
  const values: string[] = [];
  let i = 1;
  while (i < text.length - 1) {
    const { value, end } = readCelString(text, i);
    values.push(value);
    i = end;
    if (text.startsWith(', ', i)) i += 2;
    else if (i !== text.length - 1) throw new Error(`expected , at ${i}`);
  }
  return values;
}

describe('buildImagePolicy', () => {
  test('nothing without spec.imagePolicy', () => {
    expect(buildImagePolicy(baseline({ podSecurity: { enforce: 'restricted' } }), 'sbo-system')).toEqual([]);
  });

  test('a cluster-scoped policy and binding named after the baseline, owned by it', () => {
    const { policy, binding } = build(['registry.example.com/', 'ghcr.io/acme/'], { namespaceSelector: { matchLabels: { tenant: 'true' } } });
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(policy.kind).toBe('ValidatingAdmissionPolicy');
    expect(policy.metadata).toEqual({ name: 'security-baseline-tenants-images', labels: LABELS });
    expect(policy.metadata).not.toHaveProperty('namespace');
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.matchConstraints).toEqual({
      resourceRules: [
        { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods', 'pods/ephemeralcontainers', 'replicationcontrollers'] },
        { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['daemonsets', 'deployments', 'replicasets', 'statefulsets'] },
        { apiGroups: ['batch'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['cronjobs', 'jobs'] },
      ],
    });
    expect(policy.spec.variables?.map((v) => v.name)).toEqual([
      'allowed', 'podSpec', 'oldPodSpec', 'images', 'oldImages', 'introduced', 'parts', 'located', 'refs', 'denied',
    ]);
    expect(variable(policy, 'allowed')).toBe('["registry.example.com/", "ghcr.io/acme/"]');
    expect(policy.spec.validations).toEqual([{
      expression: 'size(variables.denied) == 0',
      messageExpression: '"SecurityBaseline tenants allows images only from " + variables.allowed.join(", ") + "; refused: "'
        + ' + variables.denied.map(r, r[0] == r[1] ? r[0] : r[0] + " (" + r[1] + ")").join(", ")',
      message: 'SecurityBaseline tenants allows images only from registry.example.com/, ghcr.io/acme/',
      reason: 'Forbidden',
    }]);

    expect(binding).toEqual({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'security-baseline-tenants-images', labels: LABELS },
      spec: {
        policyName: 'security-baseline-tenants-images',
        validationActions: ['Deny'],
        matchResources: {
          namespaceSelector: {
            matchLabels: { tenant: 'true' },
            matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...ALWAYS_EXCLUDED, 'sbo-system'] }],
          },
        },
      },
    });

    // The client library's types accept them as they are.
    const typedPolicy: V1ValidatingAdmissionPolicy = policy;
    const typedBinding: V1ValidatingAdmissionPolicyBinding = binding;
    expect(typedPolicy.spec?.validations).toHaveLength(1);
    expect(typedBinding.spec?.policyName).toBe(policy.metadata.name);
  });

  test('the pod spec is found in pods, workload templates and cron job templates, and images in all three container lists', () => {
    const { policy } = build(['registry.example.com/']);
    expect(variable(policy, 'podSpec')).toBe(
      'has(object.spec.jobTemplate) ? object.spec.jobTemplate.spec.template.spec : has(object.spec.template) ? object.spec.template.spec : object.spec',
    );
    expect(variable(policy, 'oldPodSpec')).toMatch(/^oldObject == null \? \{\} : has\(oldObject\.spec\.jobTemplate\)/);
    for (const field of ['containers', 'initContainers', 'ephemeralContainers']) {
      expect(variable(policy, 'images')).toContain(`has(variables.podSpec.${field}) ? variables.podSpec.${field} : []`);
      expect(variable(policy, 'oldImages')).toContain(`has(variables.oldPodSpec.${field}) ? variables.oldPodSpec.${field} : []`);
    }
  });

  test('prefixes are normalised like image references, deduplicated and kept in order', () => {
    const { policy } = build([
      'registry.example.com/', 'Registry.Example.COM/', 'ghcr.io/acme/', 'library/', 'acme/', 'index.docker.io/', 'docker.io/library/', 'localhost:5000/', 'localhost/',
    ]);
    expect(readCelStringList(variable(policy, 'allowed'))).toEqual([
      'registry.example.com/', 'ghcr.io/acme/', 'docker.io/library/', 'docker.io/acme/', 'docker.io/', 'localhost:5000/', 'localhost/',
    ]);
  });

  test('a prefix that could match more than it says is a SpecError at its index', () => {
    expect(() => build(['registry.example.com/', 'registry.example.com'])).toThrow(
      new SpecError('spec.imagePolicy.allowedRegistries[1]', '"registry.example.com" must end with / so that it cannot also match a longer host or repository'),
    );
    expect(() => build(['/'])).toThrow(expect.objectContaining({ field: 'spec.imagePolicy.allowedRegistries[0]' }));
    expect(() => build([])).toThrow(new SpecError('spec.imagePolicy.allowedRegistries', 'must name at least one prefix'));
  });

  test('an invalid baseline name is a SpecError, not an invalid object', () => {
    expect(() => buildImagePolicy(baseline({ imagePolicy: { allowedRegistries: ['ghcr.io/'] } }, 'Tenants'), 'sbo-system')).toThrow(SpecError);
  });

  test('prefixes with quotes, backslashes and any Unicode still make valid CEL that reads back as written', () => {
    const nasty = ['registry.example.com/"quoted"/', 'ghcr.io/back\\slash/', 'ünï.example/😀\t\u0000/', 'x.io/"] + ["/'];
    const { policy } = build(nasty);
    expect(readCelStringList(variable(policy, 'allowed'))).toEqual(nasty);
    expect(variable(policy, 'allowed')).toMatch(/^[\x20-\x7e]*$/);
  });

  test('deterministic', () => {
    expect(build(['ghcr.io/acme/', 'registry.example.com/'])).toEqual(build(['ghcr.io/acme/', 'registry.example.com/']));
  });

  test('in Audit mode the binding warns and records instead of refusing; the policy is the same', () => {
    const audit = build(['ghcr.io/'], { mode: 'Audit' });
    expect(audit.binding.spec.validationActions).toEqual(['Warn', 'Audit']);
    expect(audit.policy).toEqual(build(['ghcr.io/']).policy);
    expect(build(['ghcr.io/'], { mode: 'Enforce' }).binding.spec.validationActions).toEqual(['Deny']);
  });
});

describe('imageReferenceVariables', () => {
  test('each element keeps the fields it carries, image first, and gains the normalised reference after them', () => {
    const steps = Object.fromEntries(imageReferenceVariables('variables.tagged', 2).map((v) => [v.name, v.expression]));
    expect(Object.keys(steps)).toEqual(['parts', 'located', 'refs']);
    expect(steps.parts).toBe('variables.tagged.map(e, e + e[0].split("/", 2))');
    // Both fields carried, then the host and path of the split: p[2] and p[3].
    expect(steps.located).toMatch(/^variables\.parts\.map\(p, size\(p\) == 4 && \(p\[2\]\.contains\("\."\)/);
    expect(steps.located).toContain('? [p[0], p[1], p[2], p[3]] : [p[0], p[1], "docker.io", size(p) == 4 ? p[2] + "/" + p[3] : p[2]]');
    expect(steps.refs).toMatch(/^variables\.located\.map\(q, \[q\[0\], q\[1\], q\[2\] == "docker\.io"/);
  });

  test('the image policy carries only the image, as [as written, normalised]', () => {
    const { policy } = build(['ghcr.io/']);
    expect(variable(policy, 'parts')).toBe('variables.introduced.map(i, [i]).map(e, e + e[0].split("/", 2))');
    expect(variable(policy, 'denied')).toBe('variables.refs.filter(r, !variables.allowed.exists(p, r[1].startsWith(p)))');
  });
});

describe('normalizePrefix', () => {
  test.each([
    ['registry.example.com/', 'registry.example.com/'],
    ['registry.example.com:5000/team/', 'registry.example.com:5000/team/'],
    ['REGISTRY.example.com/team/', 'registry.example.com/team/'],
    ['localhost/', 'localhost/'],
    ['localhost:5000/', 'localhost:5000/'],
    ['docker.io/', 'docker.io/'],
    ['index.docker.io/', 'docker.io/'],
    ['index.docker.io/library/', 'docker.io/library/'],
    ['docker.io/library/', 'docker.io/library/'],
    ['library/', 'docker.io/library/'],
    ['acme/', 'docker.io/acme/'],
    ['acme/team/', 'docker.io/acme/team/'],
  ])('%s → %s', (prefix, normalized) => {
    expect(normalizePrefix(prefix)).toBe(normalized);
  });
});

describe('bindingNamespaceSelector', () => {
  test('the baseline\'s selector as given, plus a NotIn for every excluded namespace', () => {
    expect(bindingNamespaceSelector(baseline({
      namespaceSelector: {
        matchLabels: { tier: 'web', tenant: 'true' },
        matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }, { key: 'legacy', operator: 'DoesNotExist' }],
      },
      excludeNamespaces: ['sandbox', 'kube-system', 'sbo-system', 'sandbox'],
    }), 'sbo-system')).toEqual({
      matchLabels: { tenant: 'true', tier: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'staging'] },
        { key: 'legacy', operator: 'DoesNotExist' },
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...ALWAYS_EXCLUDED, 'sbo-system', 'sandbox'] },
      ],
    });
  });

  test('{} selects every namespace but the excluded ones', () => {
    expect(bindingNamespaceSelector(baseline({ namespaceSelector: {} }), 'operators')).toEqual({
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...ALWAYS_EXCLUDED, 'operators'] }],
    });
  });

  test('does not share arrays with the baseline', () => {
    const values = ['prod'];
    const source = baseline({ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values }] } });
    const selector = bindingNamespaceSelector(source, 'sbo-system');
    values.push('dev');
    expect(selector.matchExpressions?.[0]?.values).toEqual(['prod']);
  });
});

describe('celString', () => {
  const printableAscii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)) });

  test('printable ASCII: the same text as JSON.stringify, which is therefore a valid CEL string', () => {
    fc.assert(fc.property(printableAscii, (value) => {
      expect(celString(value)).toBe(JSON.stringify(value));
      expect(readCelString(celString(value), 0)).toEqual({ value, end: celString(value).length });
    }));
  });

  test('any Unicode string round-trips through an ASCII-only literal', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (value) => {
      const literal = celString(value);
      expect(literal).toMatch(/^[\x20-\x7e]*$/);
      expect(readCelString(literal, 0)).toEqual({ value, end: literal.length });
    }));
  });

  test('a lone surrogate, which UTF-8 cannot hold, becomes U+FFFD', () => {
    expect(readCelString(celString('a\ud800b'), 0).value).toBe('a\ufffdb');
    fc.assert(fc.property(fc.string({ unit: 'binary' }).chain((s) => fc.constant(`${s}\udc00`)), (value) => {
      expect(readCelString(celString(value), 0).value).toBe(value.toWellFormed());
    }));
  });

  test('any list of strings makes a CEL list literal that round-trips', () => {
    fc.assert(fc.property(fc.array(fc.oneof(printableAscii, fc.string({ unit: 'binary' }))), (values) => {
      expect(readCelStringList(celStringList(values))).toEqual(values);
    }));
  });
});

describe('normalizeImage and imageAllowed (the policy CEL, in TypeScript, for pre-flight checks)', () => {
  test.each([
    ['nginx', 'docker.io/library/nginx'],
    ['nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['acme/app:1', 'docker.io/acme/app:1'],
    ['index.docker.io/nginx', 'docker.io/library/nginx'],
    ['docker.io/library/nginx', 'docker.io/library/nginx'],
    ['Registry.Example.com/App', 'registry.example.com/App'],
    ['localhost:5000/app', 'localhost:5000/app'],
    ['localhost/app', 'localhost/app'],
    ['ghcr.io/acme/tool@sha256:00', 'ghcr.io/acme/tool@sha256:00'],
  ])('%s → %s', (image, normalized) => {
    expect(normalizeImage(image)).toBe(normalized);
  });

  test('prefixes normalised the same way decide; a longer host never matches a shorter one', () => {
    const prefixes = allowedPrefixes({ allowedRegistries: ['registry.example.com/', 'library/'] });
    expect(imageAllowed('REGISTRY.example.com/app', prefixes)).toBe(true);
    expect(imageAllowed('nginx', prefixes)).toBe(true);
    expect(imageAllowed('registry.example.com.evil.io/x', prefixes)).toBe(false);
    expect(imageAllowed('evil/nginx', prefixes)).toBe(false);
  });
});

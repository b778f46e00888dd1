// Per-namespace templating of subject names and namespaces: `${namespace}` is
// the namespace's name and `${label:KEY}` the value of its label KEY, so one
// baseline can bind e.g. the group `team-a-admins` in namespace `team-a`.
// Nothing else is a placeholder; `$` without `{` is literal text.

import { SpecError } from './errors.ts';

/** The namespace being provisioned, as templating and the builders see it. */
export interface NamespaceInfo {
  name: string;
  labels: Readonly<Record<string, string>>;
}

const LABEL_PREFIX = 'label:';

function expandPlaceholder(placeholder: string, namespace: NamespaceInfo, field: string): string {
  if (placeholder === 'namespace') return namespace.name;
  if (placeholder.startsWith(LABEL_PREFIX) && placeholder.length > LABEL_PREFIX.length) {
    const key = placeholder.slice(LABEL_PREFIX.length);
    if (!Object.hasOwn(namespace.labels, key)) {
      throw new SpecError(field, `\${${placeholder}}: namespace "${namespace.name}" has no label "${key}"`);
    }
    return namespace.labels[key] as string;
  }
  throw new SpecError(field, `unknown placeholder \${${placeholder}}; use \${namespace} or \${label:KEY}`);
}

/**
 * Expands the placeholders of `template` for `namespace`. A missing label, an
 * unknown placeholder or an unterminated `${` throws a SpecError at `field`, so
 * the user sees which subject of which baseline cannot be provisioned where.
 */
export function expandTemplate(template: string, namespace: NamespaceInfo, field: string): string {
  let result = '';
  let rest = template;
  for (;;) {
    const start = rest.indexOf('${');
    if (start < 0) return result + rest;
    const end = rest.indexOf('}', start + 2);
    if (end < 0) throw new SpecError(field, `unterminated placeholder in "${template}" (a "\${" without "}")`);
    result += rest.slice(0, start) + expandPlaceholder(rest.slice(start + 2, end), namespace, field);
    rest = rest.slice(end + 1);
  }
}

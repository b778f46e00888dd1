// Writes docs/api.md, the API reference, from the CRDs' own descriptions, so
// the reference and `kubectl explain` always say the same. `--check` fails
// when docs/api.md is out of date (the unit tests run it).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  'x-kubernetes-int-or-string'?: boolean;
  [key: string]: unknown;
}

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** client-node's YAML loader renames a few keys (enum → _enum, x-kubernetes-* → x_kubernetes_*): read both. */
function field<T>(schema: Schema, name: string): T | undefined {
  return (schema[name] ?? schema[`_${name}`] ?? schema[name.replaceAll('-', '_')]) as T | undefined;
}

function typeOf(schema: Schema): string {
  if (field<boolean>(schema, 'x-kubernetes-int-or-string')) return 'integer or string';
  if (schema.type === 'array') return `[]${schema.items ? typeOf(schema.items) : 'object'}`;
  if (schema.type === 'object' && typeof schema.additionalProperties === 'object') return `map[string]${typeOf(schema.additionalProperties)}`;
  return schema.type ?? 'object';
}

function rows(schema: Schema, prefix: string, out: string[]): void {
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const fieldPath = `${prefix}${name}`;
    const notes: string[] = [];
    if (schema.required?.includes(name)) notes.push('required');
    const values = field<unknown[]>(child, 'enum');
    if (values) notes.push(`one of ${values.map((v) => `\`${String(v)}\``).join(', ')}`);
    const fallback = field<unknown>(child, 'default');
    if (fallback !== undefined) notes.push(`default \`${JSON.stringify(fallback)}\``);
    const description = (child.description ?? '').replace(/\s+/g, ' ').replaceAll('|', '\\|').trim();
    out.push(`| \`${fieldPath}\` | ${typeOf(child)} | ${notes.join('; ')} | ${description} |`);
    const nested = child.type === 'array' ? child.items : child;
    if (nested?.properties) rows(nested, `${fieldPath}${child.type === 'array' ? '[]' : ''}.`, out);
  }
}

/** The CRDs the reference covers, in the order it lists them. */
const CRD_FILES = ['crds/securitybaseline.yaml', 'crds/baselineexception.yaml'];

interface Crd {
  kind?: string;
  spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
}

export async function renderApiDocs(): Promise<string> {
  const out = [
    '# API reference',
    '',
    `<!-- Generated from ${CRD_FILES.join(' and ')} by \`node hack/api-docs.ts\`; do not edit. -->`,
    '',
  ];
  for (const file of CRD_FILES) {
    const crd = (loadAllYaml(await readFile(path.join(root, file), 'utf8')) as Crd[]).find((doc) => doc?.kind === 'CustomResourceDefinition');
    if (!crd) throw new Error(`no CustomResourceDefinition in ${file}`);
    for (const version of crd.spec.versions) {
      const schema = version.schema.openAPIV3Schema;
      out.push(`## ${crd.spec.names.kind} (\`${crd.spec.group}/${version.name}\`)`, '', schema.description ?? '', '');
      for (const section of ['spec', 'status']) {
        const part = schema.properties?.[section];
        if (!part) continue;
        out.push(`### ${crd.spec.names.kind} ${section}`, '', part.description ?? '', '', '| field | type | notes | description |', '| --- | --- | --- | --- |');
        rows(part, `${section}.`, out);
        out.push('');
      }
    }
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trim()}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const rendered = await renderApiDocs();
  const target = path.join(root, 'docs/api.md');
  if (process.argv.includes('--check')) {
    const current = await readFile(target, 'utf8').catch(() => '');
    if (current !== rendered) {
      console.error('docs/api.md is out of date: run node hack/api-docs.ts');
      process.exit(1);
    }
  } else {
    await writeFile(target, rendered);
    console.log(`wrote ${path.relative(process.cwd(), target)}`);
  }
}

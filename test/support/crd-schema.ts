// One API written twice, as TypeScript types and as a CRD's OpenAPI schema:
// what the tests of src/api/ share to prove that the two agree. A test gives an
// example that sets every field of its types (DeepRequired makes the compiler
// see to that) and reads the schema; agreementTests then checks the field
// paths, value kinds, maps, descriptions, enums, defaults and list bounds.
import { readFile } from 'node:fs/promises';
import { expect, test } from '@jest/globals';
import { loadAllYaml, type V1CustomResourceDefinition, type V1CustomResourceDefinitionVersion } from '@kubernetes/client-node';

/** Every property required, at every depth; every array holds at least one element, so item fields are covered too. */
export type DeepRequired<T> =
  T extends readonly (infer U)[] ? [DeepRequired<U>, ...DeepRequired<U>[]]
    : T extends object ? { [K in keyof T]-?: DeepRequired<T[K]> }
      : T;

/** The members of the union T, every one of them: the compiler rejects a list that misses one. */
export function everyMember<T extends string>() {
  return <const A extends readonly T[]>(values: A & ([T] extends [A[number]] ? unknown : { missing: Exclude<T, A[number]> })): A => values;
}

export type Kind = 'string' | 'number' | 'boolean' | 'object' | 'map' | 'array' | 'int-or-string';

export interface Schema {
  readonly kind: Kind;
  readonly description?: string;
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly listType?: string;
  readonly maxItems?: number;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
  readonly values?: Schema;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * client-node's typed model renames `enum`, `default` and the x-kubernetes-*
 * extensions (to `_enum`, `_default`, `x_kubernetes_*`) down to the first
 * `items` or `additionalProperties`, below which the YAML's own names remain:
 * read either spelling.
 */
function field(node: Record<string, unknown>, name: string): unknown {
  const renamed = name.startsWith('x-kubernetes-') ? name.replaceAll('-', '_') : `_${name}`;
  return node[name] ?? node[renamed];
}

export function toSchema(raw: unknown, path: string): Schema {
  if (!isRecord(raw)) throw new Error(`${path}: not a schema`);
  const type = raw.type;
  const properties = isRecord(raw.properties)
    ? Object.fromEntries(Object.entries(raw.properties).map(([key, value]) => [key, toSchema(value, `${path}.${key}`)]))
    : undefined;
  const values = isRecord(raw.additionalProperties) ? toSchema(raw.additionalProperties, `${path}{}`) : undefined;
  const items = raw.items === undefined ? undefined : toSchema(raw.items, `${path}[]`);
  let kind: Kind;
  if (field(raw, 'x-kubernetes-int-or-string') === true) kind = 'int-or-string';
  else if (type === 'integer' || type === 'number') kind = 'number';
  else if (type === 'object') kind = values ? 'map' : 'object';
  else if (type === 'string' || type === 'boolean' || type === 'array') kind = type;
  else throw new Error(`${path}: unexpected type ${String(type)}`);
  const enumValues = field(raw, 'enum');
  const listType = field(raw, 'x-kubernetes-list-type');
  return {
    kind,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    ...(Array.isArray(enumValues) ? { enum: enumValues } : {}),
    ...(field(raw, 'default') !== undefined ? { default: field(raw, 'default') } : {}),
    ...(typeof listType === 'string' ? { listType } : {}),
    ...(typeof raw.maxItems === 'number' ? { maxItems: raw.maxItems } : {}),
    ...(properties ? { properties } : {}),
    ...(items ? { items } : {}),
    ...(values ? { values } : {}),
  };
}

/** Every node of the schema under `path`: object fields as `a.b`, list items as `a[]`, map values as `a{}`. */
export function schemaNodes(schema: Schema, path: string, into = new Map<string, Schema>()): Map<string, Schema> {
  into.set(path, schema);
  for (const [key, child] of Object.entries(schema.properties ?? {})) schemaNodes(child, `${path}.${key}`, into);
  if (schema.items) schemaNodes(schema.items, `${path}[]`, into);
  if (schema.values) schemaNodes(schema.values, `${path}{}`, into);
  return into;
}

/** The kinds of value the example holds at every path, named as schemaNodes names them. */
export function exampleKinds(value: unknown, path: string, mapPaths: readonly string[], into = new Map<string, Set<Kind>>()): Map<string, Set<Kind>> {
  const add = (kind: Kind): void => {
    into.set(path, (into.get(path) ?? new Set<Kind>()).add(kind));
  };
  if (Array.isArray(value)) {
    add('array');
    for (const item of value) exampleKinds(item, `${path}[]`, mapPaths, into);
  } else if (isRecord(value)) {
    const map = mapPaths.includes(path);
    add(map ? 'map' : 'object');
    for (const [key, child] of Object.entries(value)) exampleKinds(child, map ? `${path}{}` : `${path}.${key}`, mapPaths, into);
  } else if (typeof value === 'string') {
    add('string');
  } else if (typeof value === 'number') {
    add('number');
  } else if (typeof value === 'boolean') {
    add('boolean');
  } else {
    throw new Error(`${path}: unexpected ${typeof value}`);
  }
  return into;
}

export const accepts: Record<Kind, readonly Kind[]> = {
  'string': ['string'], 'number': ['number'], 'boolean': ['boolean'], 'object': ['object'], 'map': ['map'], 'array': ['array'],
  'int-or-string': ['number', 'string'],
};

/** The one CustomResourceDefinition of a file in crds/, its version `name`, and its schema's nodes by path (`spec.a.b`, `a[]`, `a{}`). */
export async function loadCrd(file: string, name: string): Promise<{
  crd: V1CustomResourceDefinition; version: V1CustomResourceDefinitionVersion | undefined; root: Schema; nodes: Map<string, Schema>;
}> {
  const docs = loadAllYaml(await readFile(new URL(`../../crds/${file}`, import.meta.url), 'utf8')) as V1CustomResourceDefinition[];
  const [crd] = docs;
  if (!crd || docs.length !== 1) throw new Error(`crds/${file} must hold exactly one CustomResourceDefinition`);
  const version = crd.spec.versions.find((v) => v.name === name);
  const root = toSchema(version?.schema?.openAPIV3Schema, '');
  const nodes = new Map([...schemaNodes(root, '')].map(([path, node]) => [path.replace(/^\./, ''), node]));
  return { crd, version, root, nodes };
}

export interface Agreement {
  /** The schema's nodes (loadCrd). */
  readonly nodes: ReadonlyMap<string, Schema>;
  /** The kinds of value the examples hold, by path (exampleKinds of spec and status). */
  readonly example: ReadonlyMap<string, Set<Kind>>;
  /** The Record<string, string> fields. */
  readonly mapPaths: readonly string[];
  /** Where the schema lists exactly the members of a TypeScript union. */
  readonly enums: Readonly<Record<string, readonly string[]>>;
  /** The defaults the types document. */
  readonly defaults: Readonly<Record<string, unknown>>;
  /** What the types are called in test names, such as `types.ts`. */
  readonly source: string;
}

/** The tests that prove the schema and the types agree, to call inside a describe(). */
export function agreementTests({ nodes, example, mapPaths, enums, defaults, source }: Agreement): void {
  const specAndStatus = [...nodes].filter(([path]) => /^(spec|status)([.[{]|$)/.test(path));

  test(`has every field of ${source}, under the same name`, () => {
    const missing = [...example.keys()].filter((path) => !nodes.has(path));
    expect(missing).toEqual([]);
  });

  test(`has no field that ${source} lacks`, () => {
    const extra = specAndStatus.map(([path]) => path).filter((path) => !example.has(path));
    expect(extra).toEqual([]);
  });

  test(`gives every field the kind of value ${source} gives it`, () => {
    const mismatched = [...example].flatMap(([path, kinds]) => {
      const node = nodes.get(path);
      if (!node) return [];
      return [...kinds].filter((kind) => !accepts[node.kind].includes(kind)).map((kind) => `${path}: schema ${node.kind}, ${source} ${kind}`);
    });
    expect(mismatched).toEqual([]);
  });

  test('keeps the Record<string, string> fields as maps of strings', () => {
    const maps = [...nodes].filter(([, node]) => node.kind === 'map').map(([path]) => path);
    expect(maps.sort()).toEqual([...mapPaths].sort());
    for (const path of mapPaths) expect(nodes.get(`${path}{}`)?.kind).toBe('string');
  });

  test('describes every field, for kubectl explain', () => {
    // The API server forbids anything but name and generateName under metadata, a description included.
    const undescribed = [...nodes]
      .filter(([path]) => path !== '' && path !== 'metadata' && !path.startsWith('metadata.') && !path.endsWith('[]') && !path.endsWith('{}'))
      .filter(([, node]) => !node.description?.trim())
      .map(([path]) => path);
    expect(undescribed).toEqual([]);
  });

  test('lists exactly the members of the TypeScript unions as enums', () => {
    const found = Object.fromEntries([...nodes].filter(([, node]) => node.enum).map(([path, node]) => [path, [...(node.enum ?? [])].sort()]));
    const expected = Object.fromEntries(Object.entries(enums).map(([path, values]) => [path, [...values].sort()]));
    expect(found).toEqual(expected);
  });

  test(`defaults what ${source} documents as defaulted, and nothing else`, () => {
    const found = Object.fromEntries([...nodes].filter(([, node]) => node.default !== undefined).map(([path, node]) => [path, node.default]));
    expect(found).toEqual(defaults);
  });

  test('bounds every list and gives it a list type, so CEL rules have a cost the API server accepts', () => {
    const unbounded = [...nodes]
      .filter(([path, node]) => node.kind === 'array' && path.startsWith('spec'))
      .filter(([, node]) => node.maxItems === undefined || node.listType === undefined)
      .map(([path]) => path);
    expect(unbounded).toEqual([]);
  });
}

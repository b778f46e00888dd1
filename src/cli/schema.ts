// Validates an object against a CRD version's structural schema offline, in
// the order the API server does: unknown fields (refused by kubectl's default
// strict field validation), defaults, the OpenAPI value checks, then the CEL
// rules (x-kubernetes-validations) of every node whose own value passed.
// Problems carry the field path and read like the API server's.
import type { Environment } from '@marcbachmann/cel-js';
import { kubernetesCelEnvironment } from './cel.ts';

export interface SchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, SchemaProps>;
  additionalProperties?: SchemaProps | boolean;
  items?: SchemaProps;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  default?: unknown;
  nullable?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  minimum?: number;
  maximum?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
  fieldPath?: string;
}

export interface SchemaProblem {
  readonly field: string;
  readonly message: string;
}

/** A rule that could not be evaluated offline (a function the environment lacks, say): not checked, and said so. */
export interface UncheckedRule {
  readonly field: string;
  readonly rule: string;
  readonly why: string;
}

export interface SchemaResult {
  readonly problems: SchemaProblem[];
  readonly unchecked: UncheckedRule[];
  /** The object with defaults applied and unknown fields dropped, as the API server would store it. */
  readonly object: unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const REASONS: Record<NonNullable<ValidationRule['reason']>, string> = {
  FieldValueInvalid: 'Invalid value', FieldValueRequired: 'Required value', FieldValueForbidden: 'Forbidden', FieldValueDuplicate: 'Duplicate value',
};

export class SchemaValidator {
  readonly #schema: SchemaProps;
  readonly #cel: Environment = kubernetesCelEnvironment();
  readonly #compiled = new Map<string, ReturnType<Environment['parse']>>();

  constructor(schema: SchemaProps) {
    this.#schema = schema;
  }

  validate(input: unknown): SchemaResult {
    const problems: SchemaProblem[] = [];
    const unchecked: UncheckedRule[] = [];
    const object = this.#prune(input as Json, this.#schema, '', problems, true);
    const failed = new Set<string>();
    this.#check(object, this.#schema, '', problems, failed);
    this.#rules(object, this.#schema, '', problems, unchecked, failed, true);
    return { problems, unchecked, object };
  }

  /** Drops and reports unknown fields, applies defaults. */
  #prune(value: Json, schema: SchemaProps, path: string, problems: SchemaProblem[], root = false): Json {
    if (Array.isArray(value)) return schema.items ? value.map((item, i) => this.#prune(item, schema.items as SchemaProps, `${path}[${i}]`, problems)) : value;
    if (value === null || typeof value !== 'object' || schema['x-kubernetes-preserve-unknown-fields']) return value;
    const out: Record<string, Json> = {};
    for (const [key, child] of Object.entries(value)) {
      const at = join(path, key);
      if (root && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) out[key] = child;
      else if (schema.properties?.[key]) out[key] = this.#prune(child, schema.properties[key], at, problems);
      else if (typeof schema.additionalProperties === 'object') out[key] = this.#prune(child, schema.additionalProperties, `${path}[${key}]`, problems);
      else if (schema.additionalProperties === true || !schema.properties) out[key] = child;
      else problems.push({ field: at, message: `unknown field "${at}"` });
    }
    for (const [key, property] of Object.entries(schema.properties ?? {})) {
      if (!(key in out) && property.default !== undefined) out[key] = structuredClone(property.default) as Json;
    }
    return out;
  }

  /** The OpenAPI value checks; records the paths that failed, so CEL skips them. */
  #check(value: Json | undefined, schema: SchemaProps, path: string, problems: SchemaProblem[], failed: Set<string>): void {
    const problem = (message: string) => {
      problems.push({ field: path || '<root>', message });
      failed.add(path);
    };
    if (value === null) {
      if (!schema.nullable) problem(`Invalid value: "null": ${path} in body must be of type ${schema.type ?? 'object'}: "null"`);
      return;
    }
    if (value === undefined) return;
    const actual = typeOf(value);
    if (schema['x-kubernetes-int-or-string']) {
      if (actual !== 'string' && actual !== 'integer') problem(`Invalid value: ${show(value)}: ${path} in body must be of type integer or string: "${actual}"`);
    } else if (schema.type && actual !== schema.type && !(schema.type === 'number' && actual === 'integer')) {
      problem(`Invalid value: "${actual}": ${path} in body must be of type ${schema.type}: "${actual}"`);
      return;
    }
    if (schema.enum && !schema.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))) {
      problem(`Unsupported value: ${show(value)}: supported values: ${schema.enum.map(show).join(', ')}`);
    }
    if (typeof value === 'string') {
      if (schema.maxLength !== undefined && [...value].length > schema.maxLength) problem(`Too long: may not be more than ${schema.maxLength} bytes`);
      if (schema.minLength !== undefined && [...value].length < schema.minLength) problem(`Invalid value: ${show(value)}: ${path} in body should be at least ${schema.minLength} chars long`);
      if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) problem(`Invalid value: ${show(value)}: ${path} in body should match '${schema.pattern}'`);
    }
    if (typeof value === 'number') {
      if (schema.maximum !== undefined && value > schema.maximum) problem(`Invalid value: ${value}: ${path} in body should be less than or equal to ${schema.maximum}`);
      if (schema.minimum !== undefined && value < schema.minimum) problem(`Invalid value: ${value}: ${path} in body should be greater than or equal to ${schema.minimum}`);
    }
    if (Array.isArray(value)) {
      if (schema.maxItems !== undefined && value.length > schema.maxItems) problem(`Too many: ${value.length}: must have at most ${schema.maxItems} items`);
      if (schema.minItems !== undefined && value.length < schema.minItems) problem(`Invalid value: ${value.length}: ${path} in body should have at least ${schema.minItems} items`);
      this.#uniqueness(value, schema, path, problems);
      value.forEach((item, i) => schema.items && this.#check(item, schema.items, `${path}[${i}]`, problems, failed));
      return;
    }
    if (typeof value === 'object') {
      const keys = Object.keys(value);
      if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) problem(`Too many: ${keys.length}: must have at most ${schema.maxProperties} items`);
      if (schema.minProperties !== undefined && keys.length < schema.minProperties) problem(`Invalid value: ${keys.length}: ${path} in body should have at least ${schema.minProperties} properties`);
      for (const key of schema.required ?? []) {
        if (!(key in value)) {
          problems.push({ field: join(path, key), message: 'Required value' });
          failed.add(path);
        }
      }
      for (const [key, child] of Object.entries(value)) {
        const childSchema = schema.properties?.[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
        if (childSchema && !(path === '' && key === 'metadata')) this.#check(child, childSchema, childPath(schema, path, key), problems, failed);
      }
    }
  }

  #uniqueness(value: Json[], schema: SchemaProps, path: string, problems: SchemaProblem[]): void {
    const listType = schema['x-kubernetes-list-type'];
    if (listType !== 'set' && listType !== 'map') return;
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const identity = listType === 'set' ? JSON.stringify(item)
        : JSON.stringify(keys.map((key) => (item && typeof item === 'object' && !Array.isArray(item) ? item[key] : undefined)));
      if (seen.has(identity)) {
        const shown = listType === 'set' ? show(item) : JSON.stringify(Object.fromEntries(keys.map((key, k) => [key, JSON.parse(identity)[k]])));
        // Not a reason to skip the CEL rules: the API server evaluates them on such a list too.
        problems.push({ field: `${path}[${i}]`, message: `Duplicate value: ${shown}` });
      }
      seen.add(identity);
    });
  }

  /** Evaluates the CEL rules of each node (children first, as the API server reports them all). */
  #rules(
    value: Json | undefined, schema: SchemaProps, path: string, problems: SchemaProblem[], unchecked: UncheckedRule[], failed: Set<string>, root = false,
  ): void {
    if (value === undefined || value === null || [...failed].some((f) => f === path || f.startsWith(`${path}.`) || f.startsWith(`${path}[`))) return;
    if (Array.isArray(value) && schema.items) value.forEach((item, i) => this.#rules(item, schema.items as SchemaProps, `${path}[${i}]`, problems, unchecked, failed));
    else if (typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) {
        const childSchema = schema.properties?.[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
        if (childSchema && !(root && key === 'metadata')) this.#rules(child, childSchema, childPath(schema, path, key), problems, unchecked, failed);
      }
    }
    for (const rule of schema['x-kubernetes-validations'] ?? []) {
      const self = celValue(value, schema, root);
      let holds: unknown;
      try {
        holds = this.#program(rule.rule)({ self });
      } catch (error) {
        unchecked.push({ field: path || '<root>', rule: rule.rule, why: error instanceof Error ? error.message : String(error) });
        continue;
      }
      if (holds === true) continue;
      const field = rule.fieldPath ? (path + rule.fieldPath).replace(/^\./, "") : path;
      // As the API server: an invalid scalar is quoted in the message, an object or a list is not.
      const reason = rule.reason ?? 'FieldValueInvalid';
      const shown = reason === 'FieldValueInvalid' && (value === null || typeof value !== 'object') ? `${show(value)}: ` : '';
      problems.push({ field: field || '<root>', message: `${REASONS[reason]}: ${shown}${this.#message(rule, self)}` });
    }
  }

  #message(rule: ValidationRule, self: unknown): string {
    if (rule.messageExpression) {
      try {
        const message = this.#program(rule.messageExpression)({ self });
        if (typeof message === 'string' && message.trim() !== '') return message;
      } catch {
        // The API server falls back to message too.
      }
    }
    return rule.message ?? `failed rule: ${rule.rule}`;
  }

  #program(expression: string): ReturnType<Environment['parse']> {
    let program = this.#compiled.get(expression);
    if (!program) this.#compiled.set(expression, program = this.#cel.parse(presenceAsMembership(expression)));
    return program;
  }
}

/**
 * `has(E.f)` where E is not a plain path (`has(self[size(self) - 1].percent)`)
 * as `("f" in (E))`: the CEL library accepts has() on paths only. Every value
 * of a custom resource is a map to CEL, and on a map both mean "the key is set".
 */
export function presenceAsMembership(expression: string): string {
  let out = '';
  let rest = expression;
  for (let at = rest.search(/\bhas\(/); at >= 0; at = rest.search(/\bhas\(/)) {
    let depth = 0;
    let end = at + 4;
    for (; end < rest.length; end++) {
      if (rest[end] === '(') depth++;
      else if (rest[end] === ')' && depth-- === 0) break;
    }
    const argument = rest.slice(at + 4, end);
    const select = /^([\s\S]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(argument);
    const plainPath = /^\s*[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\s*$/;
    const replaced = select && !plainPath.test(select[1] as string) ? `("${select[2]}" in (${select[1]}))` : `has(${argument})`;
    out += rest.slice(0, at) + replaced;
    rest = rest.slice(end + 1);
  }
  return out + rest;
}

/** The value as CEL sees it: integers as int, declared property names escaped as Kubernetes does, root metadata reduced to name and generateName. */
function celValue(value: Json, schema: SchemaProps, root = false): unknown {
  if (value === null) return null;
  if (typeof value === 'number') {
    const integer = schema.type === 'integer' || (schema['x-kubernetes-int-or-string'] && Number.isInteger(value));
    return integer ? BigInt(value) : value;
  }
  if (Array.isArray(value)) return value.map((item) => celValue(item, schema.items ?? {}));
  if (typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (root && key === 'metadata') {
      const { name, generateName } = child as { name?: string; generateName?: string };
      out.metadata = { ...(name !== undefined ? { name } : {}), ...(generateName !== undefined ? { generateName } : {}) };
    } else if (schema.properties?.[key]) {
      const escaped = escapeProperty(key);
      if (escaped) out[escaped] = celValue(child, schema.properties[key]);
    } else if (typeof schema.additionalProperties === 'object') out[key] = celValue(child, schema.additionalProperties);
    else out[key] = child;
  }
  return out;
}

const CEL_RESERVED = new Set([
  'true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop',
  'package', 'namespace', 'return', 'var', 'void', 'while',
]);

/** Kubernetes' escaping of property names for CEL (k8s.io/apiserver/pkg/cel: Escape), or undefined when inaccessible. */
export function escapeProperty(name: string): string | undefined {
  if (CEL_RESERVED.has(name)) return `__${name}__`;
  const escaped = name.replace(/__/g, '__underscores__').replace(/\./g, '__dot__').replace(/-/g, '__dash__').replace(/\//g, '__slash__');
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(escaped) ? escaped : undefined;
}

function typeOf(value: Json): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

/** `a.b` for a declared property, `a[key]` for a map entry, as the API server writes paths. */
function childPath(schema: SchemaProps, path: string, key: string): string {
  return schema.properties?.[key] ? join(path, key) : `${path}[${key}]`;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

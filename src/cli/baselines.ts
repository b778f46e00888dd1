// Reading SecurityBaselines from files and checking them offline with
// everything the API server and the operator would check: the CRD's schema and
// CEL rules (schema.ts), then the operator's own builders, whose SpecErrors are
// exactly what the operator would report in a Degraded condition.
import { readFile } from 'node:fs/promises';
import { loadAll } from 'js-yaml';
import { EXCEPTION_KIND, type BaselineException } from '../api/exception.ts';
import { API_VERSION, KIND, type SecurityBaseline } from '../api/types.ts';
import { buildAdmissionGate } from '../resources/admissiongate.ts';
import { buildImagePolicy } from '../resources/imagepolicy.ts';
import { buildBaseline, SpecError } from '../resources/index.ts';
import { SchemaValidator, type SchemaProps, type SchemaProblem, type UncheckedRule } from './schema.ts';

/** The operator's namespace in config/default: the admission builders exclude it, and check nothing else with it. */
export const DEFAULT_OPERATOR_NAMESPACE = 'security-baseline-system';

export interface Document {
  readonly file: string;
  /** 1-based position in its file. */
  readonly index: number;
  readonly value: unknown;
}

export interface Checked {
  readonly document: Document;
  /** The baseline's name, or `document N` when it has none. */
  readonly name: string;
  readonly problems: SchemaProblem[];
  readonly unchecked: UncheckedRule[];
  /** Set when the document is a SecurityBaseline that passed the schema: as stored, defaults applied. */
  readonly baseline?: SecurityBaseline;
}

/** Every YAML (or JSON) document of the files; `-` reads standard input. */
export async function readDocuments(files: readonly string[]): Promise<Document[]> {
  const documents: Document[] = [];
  for (const file of files) {
    const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    let values: unknown[];
    try {
      values = loadAll(text);
    } catch (error) {
      throw new Error(`${file}: not YAML: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, { cause: error });
    }
    values.forEach((value, i) => {
      if (value !== null && value !== undefined) documents.push({ file, index: i + 1, value });
    });
  }
  return documents;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const crdSchemas = new Map<string, SchemaValidator>();

/** The schema of a CRD of crds/ (the files `make install` applies), at this API version. */
async function validator(file: 'securitybaseline.yaml' | 'baselineexception.yaml'): Promise<SchemaValidator> {
  let schema = crdSchemas.get(file);
  if (!schema) {
    const crd = (loadAll(await readFile(new URL(`../../crds/${file}`, import.meta.url), 'utf8')) as { kind?: string }[])
      .find((doc) => doc?.kind === 'CustomResourceDefinition') as unknown as
      { spec: { versions: { name: string; schema: { openAPIV3Schema: SchemaProps } }[] } };
    const version = crd.spec.versions.find((v) => `security.baseline.dev/${v.name}` === API_VERSION);
    if (!version) throw new Error(`crds/${file} has no version ${API_VERSION}`);
    schema = new SchemaValidator(version.schema.openAPIV3Schema);
    crdSchemas.set(file, schema);
  }
  return schema;
}

/** A document of one kind of this API checked against its CRD's schema: its object as stored when it passed. */
interface SchemaChecked {
  readonly name: string;
  readonly problems: SchemaProblem[];
  readonly unchecked: UncheckedRule[];
  readonly object?: unknown;
}

/** The API version, `metadata.name` and the CRD's schema of a document of `kind`; undefined for other kinds. */
async function checkSchema(document: Document, kind: string, crdFile: 'securitybaseline.yaml' | 'baselineexception.yaml'): Promise<SchemaChecked | undefined> {
  const value = document.value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
  if (typeof value !== 'object' || value.kind !== kind) return undefined;
  const name = typeof value.metadata?.name === 'string' ? value.metadata.name : `document ${document.index}`;
  if (value.apiVersion !== API_VERSION) {
    return { name, unchecked: [], problems: [{ field: 'apiVersion', message: `Unsupported value: ${JSON.stringify(value.apiVersion)}: supported values: "${API_VERSION}"` }] };
  }
  const problems: SchemaProblem[] = [];
  if (typeof value.metadata?.name !== 'string' || value.metadata.name === '') problems.push({ field: 'metadata.name', message: 'Required value: name is required' });
  const result = (await validator(crdFile)).validate(value);
  problems.push(...result.problems);
  return { name, problems, unchecked: result.unchecked, object: problems.length > 0 ? undefined : result.object };
}

/**
 * Checks one document: a SecurityBaseline of this API version, valid against
 * the CRD, and buildable by the operator. Documents of other kinds are not
 * baselines and are left to their own tools (the caller says so).
 */
export async function checkDocument(document: Document, operatorNamespace = DEFAULT_OPERATOR_NAMESPACE): Promise<Checked | undefined> {
  const checked = await checkSchema(document, KIND, 'securitybaseline.yaml');
  if (!checked?.object) return checked && { document, name: checked.name, problems: checked.problems, unchecked: checked.unchecked };
  const baseline = checked.object as SecurityBaseline;
  return { document, name: checked.name, problems: operatorChecks(baseline, operatorNamespace), unchecked: checked.unchecked, baseline };
}

/**
 * Checks a BaselineException document against its CRD's schema; undefined for
 * documents of other kinds. Whether its relax fits the baseline is judged
 * where it is used, against the baseline, as the operator does.
 */
export async function checkExceptionDocument(document: Document): Promise<{ name: string; problems: SchemaProblem[]; exception?: BaselineException } | undefined> {
  const checked = await checkSchema(document, EXCEPTION_KIND, 'baselineexception.yaml');
  return checked && { name: checked.name, problems: checked.problems, exception: checked.object as BaselineException | undefined };
}

/**
 * The valid baselines (and BaselineExceptions) of the files, for the commands
 * that use them (render, diff): every problem is printed on stderr, and
 * `invalid` counts the documents that had any (the command then does nothing
 * with them).
 */
export async function readValidBaselines(files: readonly string[], operatorNamespace: string): Promise<{ baselines: SecurityBaseline[]; exceptions: BaselineException[]; invalid: number }> {
  const baselines: SecurityBaseline[] = [];
  const exceptions: BaselineException[] = [];
  let invalid = 0;
  for (const document of await readDocuments(files)) {
    const checked = await checkDocument(document, operatorNamespace) ?? await checkExceptionDocument(document);
    if (!checked) continue;
    for (const p of checked.problems) process.stderr.write(`${document.file}: ${checked.name}: ${p.field}: ${p.message}\n`);
    if (checked.problems.length > 0) invalid++;
    else if ('baseline' in checked && checked.baseline) baselines.push(checked.baseline);
    else if ('exception' in checked && checked.exception) exceptions.push(checked.exception);
  }
  if (invalid > 0) process.stderr.write(`${invalid} invalid document${invalid === 1 ? '' : 's'}: see the problems above\n`);
  return { baselines, exceptions, invalid };
}

/** The option of the commands that decide selection: the operator's namespace is never managed. */
export const OPERATOR_NAMESPACE_OPTION = { 'operator-namespace': { type: 'string', default: DEFAULT_OPERATOR_NAMESPACE } } as const;
export const OPERATOR_NAMESPACE_HELP = `  --operator-namespace   the operator's namespace, never managed (default ${DEFAULT_OPERATOR_NAMESPACE})`;

/**
 * The SpecErrors the operator's builders raise for this baseline, as in any
 * namespace: `${label:KEY}` templates are given a namespace that has those
 * labels (a namespace without one is a per-namespace failure, which `render`
 * and `diff` show, not an error of the baseline).
 */
export function operatorChecks(baseline: SecurityBaseline, operatorNamespace = DEFAULT_OPERATOR_NAMESPACE): SchemaProblem[] {
  const labels = Object.fromEntries([...JSON.stringify(baseline.spec.roleBindings ?? []).matchAll(/\$\{label:([^}]*)\}/g)].map((m) => [m[1] as string, 'example']));
  const errors: SpecError[] = [...buildBaseline(baseline, { name: 'example', labels }).errors];
  for (const build of [buildImagePolicy, buildAdmissionGate]) {
    try {
      build(baseline, operatorNamespace);
    } catch (error) {
      if (!(error instanceof SpecError)) throw error;
      if (!errors.some((e) => e.message === error.message)) errors.push(error);
    }
  }
  return errors.map((error) => ({ field: error.field, message: `Invalid value: ${error.reason}` }));
}

// Writes crds/exception-policy.yaml: what the BaselineException CRD cannot
// check, checked at admission by the API server itself (see README,
// "Exceptions"). `--check` fails when the file is out of date (the unit tests
// run it).
//
//  - A MutatingAdmissionPolicy stamps who creates an exception
//    (security.baseline.dev/created-by = the requesting user), so the Events
//    can name the person who granted it, and keeps it on every update; the
//    validating policy refuses any other name.
//  - A ValidatingAdmissionPolicy refuses an exception whose expiresAt is not
//    after its creation or is more than 90 days after it (a CRD's own CEL sees
//    neither the clock nor metadata.creationTimestamp; validating admission
//    runs after the API server has set creationTimestamp), a change of the
//    created-by annotation, and an exception whose author could not make each
//    relaxation directly (the no-confused-deputy rule of the authoring policy):
//      podSecurity           patch on that namespace (its Pod Security labels)
//      networkPolicy         create networkpolicies in that namespace
//      resourceQuota         update resourcequotas in that namespace
//      imagePolicy, gate,    update on the baseline itself: they live in the
//      workloadPolicy        baseline's cluster-scoped admission policies, and
//                            changing the baseline is the only direct way
//    Names are fixed, so the namespaced checks are per named namespace: a
//    RoleBinding in team-a that grants `update resourcequotas` is enough to
//    raise the quota of team-a. A change that only narrows (fewer namespaces,
//    an earlier expiresAt, the same relax) needs no right; new namespaces, a
//    later expiresAt or another relax are checked as on creation.
//
// As in hack/authoring-policy.ts, an authorization check costs 350,000 of the
// 1,000,000 one expression may spend and the 10,000,000 of one evaluation: one
// check per validation, one slot per (control, namespace), a cluster-wide check
// first as a fast path. MAX_EXCEPTION_NAMESPACES keeps the worst case (every
// fast path failing, every slot used) within the budget.
import path from 'node:path';
import { isMain, writeOrCheck, yamlDocuments } from './generated.ts';
import { OPERATOR_NAME } from '../src/api/constants.ts';
import { CREATED_BY_ANNOTATION, EXCEPTION_PLURAL, MAX_EXCEPTION_DAYS, MAX_EXCEPTION_NAMESPACES } from '../src/api/exception.ts';
import { GROUP, PLURAL } from '../src/api/types.ts';
import { concat, expr } from './authoring-policy.ts';

export const EXCEPTION_POLICY_NAME = 'security-baseline-exceptions';
export const CREATOR_POLICY_NAME = 'security-baseline-exception-creator';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const output = path.join(root, 'crds', 'exception-policy.yaml');
const range = (n: number): number[] => [...Array(n).keys()];
const labels = { 'app.kubernetes.io/name': OPERATOR_NAME, 'app.kubernetes.io/part-of': OPERATOR_NAME };
const rules = (operations: string[]) => [{ apiGroups: [GROUP], apiVersions: ['*'], operations, resources: [EXCEPTION_PLURAL], scope: '*' }];
/**
 * matchConstraints with the API server's defaults spelt out: it is atomic for
 * server-side apply, so without them a second field manager (`kubectl apply
 * --server-side -k config/default` after `make install`) conflicts with the
 * first over it (see hack/authoring-policy.ts).
 */
const matchConstraints = (operations: string[]) => ({ matchPolicy: 'Equivalent', namespaceSelector: {}, objectSelector: {}, resourceRules: rules(operations) });
const creator = (object: string) => `has(${object}.metadata.annotations) && '${CREATED_BY_ANNOTATION}' in ${object}.metadata.annotations`
  + ` ? ${object}.metadata.annotations['${CREATED_BY_ANNOTATION}'] : ''`;

/** One namespaced relaxation: the control, the right that makes it directly, and why. */
interface NamespacedRight {
  readonly control: 'podSecurity' | 'networkPolicy' | 'resourceQuota';
  readonly variable: string;
  readonly check: (namespace: string) => string;
  readonly verb: string;
  readonly what: string;
  readonly why: string;
}

const NAMESPACED: readonly NamespacedRight[] = [
  {
    control: 'podSecurity', variable: 'podSecurityAnywhere', verb: 'patch', what: 'namespace',
    check: (ns) => `authorizer.group('').resource('namespaces')${ns ? `.namespace(${ns}).name(${ns})` : ''}.check('patch').allowed()`,
    why: 'a lower Pod Security level is a change to the Pod Security labels of the namespace',
  },
  {
    control: 'networkPolicy', variable: 'networkPolicyAnywhere', verb: 'create', what: 'networkpolicies.networking.k8s.io in namespace',
    check: (ns) => `authorizer.group('networking.k8s.io').resource('networkpolicies')${ns ? `.namespace(${ns})` : ''}.check('create').allowed()`,
    why: 'an allow rule opens traffic as a NetworkPolicy of its own would',
  },
  {
    control: 'resourceQuota', variable: 'resourceQuotaAnywhere', verb: 'update', what: 'resourcequotas in namespace',
    check: (ns) => `authorizer.group('').resource('resourcequotas')${ns ? `.namespace(${ns})` : ''}.check('update').allowed()`,
    why: 'a higher quota is a change to the namespace\'s ResourceQuota',
  },
];

const ninetyDays = `duration('${MAX_EXCEPTION_DAYS * 24}h')`;

function variables(): { name: string; expression: string }[] {
  return [
    { name: 'created', expression: 'timestamp(object.metadata.creationTimestamp)' },
    { name: 'expires', expression: 'timestamp(object.spec.expiresAt)' },
    { name: 'relax', expression: 'object.spec.relax' },
    {
      // The namespaces whose rights are checked: all of them when the exception is new or
      // widens (another relax, a later end), only the added ones when it narrows or keeps.
      name: 'checked',
      expression: `request.operation == 'CREATE' || object.spec.relax != oldObject.spec.relax
  || timestamp(object.spec.expiresAt) > timestamp(oldObject.spec.expiresAt)
  ? object.spec.namespaces : object.spec.namespaces.filter(n, !(n in oldObject.spec.namespaces))`,
    },
    // Fast paths: one cluster-wide check stands for every namespace.
    ...NAMESPACED.map(({ control, variable, check }) => ({
      name: variable,
      expression: `!has(variables.relax.${control}) || size(variables.checked) == 0 || ${check('')}`,
    })),
    {
      name: 'mayChangeBaseline',
      expression: `!(has(variables.relax.imagePolicy) || has(variables.relax.admissionGate) || has(variables.relax.workloadPolicy)) || size(variables.checked) == 0
  || authorizer.group('${GROUP}').resource('${PLURAL}').name(object.spec.baseline).check('update').allowed()`,
    },
  ];
}

const who = expr('request.userInfo.username');
const exception = expr(`'BaselineException ' + object.metadata.name + ': '`);

function validations(): { expression: string; messageExpression: string; message: string; reason: 'Invalid' | 'Forbidden' }[] {
  const validation = (expression: string, message: string, messageExpression: string, reason: 'Invalid' | 'Forbidden' = 'Invalid') =>
    ({ expression, message, messageExpression, reason });
  return [
    validation(
      `request.operation != 'CREATE' || variables.expires > variables.created`,
      'expiresAt must be in the future when the exception is created',
      concat(exception, 'expiresAt ', expr('string(object.spec.expiresAt)'), ' is not in the future (the exception is being created at ',
        expr('string(object.metadata.creationTimestamp)'), `); an exception must end after it is created, and at most ${MAX_EXCEPTION_DAYS} days later`),
    ),
    validation(
      `variables.expires - variables.created <= ${ninetyDays}`,
      `expiresAt must be at most ${MAX_EXCEPTION_DAYS} days after the exception's creation`,
      concat(exception, 'expiresAt ', expr('string(object.spec.expiresAt)'), ' is ',
        expr(`string((variables.expires - variables.created).getHours() / 24)`), ' days after its creation (',
        expr('string(object.metadata.creationTimestamp)'), `); an exception lasts at most ${MAX_EXCEPTION_DAYS} days: set expiresAt no later than `,
        expr(`string(variables.created + ${ninetyDays})`), ', and grant a new exception when it ends if it is still needed'),
    ),
    validation(
      `request.operation == 'CREATE' ? (${creator('object')}) in ['', request.userInfo.username] : (${creator('object')}) == (${creator('oldObject')})`,
      `${CREATED_BY_ANNOTATION} names who created the exception, as the API server saw it; it cannot be set to anyone else or changed`,
      concat(exception, `${CREATED_BY_ANNOTATION} names who created the exception, as the API server saw it; it cannot be set to anyone else or changed`),
      'Forbidden',
    ),
    validation(
      'variables.mayChangeBaseline',
      'the author may not change the baseline whose image policy, admission gate or workload policy this exception relaxes',
      concat(exception, who, ' may not relax imagePolicy, admissionGate or workloadPolicy of baseline ', expr('object.spec.baseline'),
        ': they are enforced by the baseline\'s cluster-scoped admission policies, and the only direct way to loosen them is to change the baseline,'
        + ` so granting it needs the update verb on ${PLURAL}/`, expr('object.spec.baseline')),
      'Forbidden',
    ),
    ...NAMESPACED.flatMap(({ control, variable, check, verb, what, why }) => range(MAX_EXCEPTION_NAMESPACES).map((i) => validation(
      `variables.${variable} || size(variables.checked) <= ${i} || ${check(`variables.checked[${i}]`)}`,
      `the author may not relax ${control} in a namespace this exception names`,
      concat(exception, who, ` may not relax ${control} in namespace `, expr(`variables.checked[${i}]`), `: ${why}, so granting it needs the ${verb} verb on ${what} `,
        expr(`variables.checked[${i}]`)),
      'Forbidden',
    ))),
  ];
}

export function buildExceptionPolicies(): Record<string, unknown>[] {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicy',
      metadata: { name: CREATOR_POLICY_NAME, labels },
      spec: {
        failurePolicy: 'Fail',
        reinvocationPolicy: 'Never',
        matchConstraints: matchConstraints(['CREATE', 'UPDATE']),
        // An update keeps the creator: an apply that leaves the annotation out (its field manager
        // owns what admission set on its create) gets it back, rather than a refusal for removing it.
        mutations: [{
          patchType: 'ApplyConfiguration',
          applyConfiguration: {
            expression: `request.operation == 'CREATE' || (${creator('oldObject')}) != ''
  ? Object{metadata: Object.metadata{annotations: {'${CREATED_BY_ANNOTATION}': request.operation == 'CREATE' ? request.userInfo.username : oldObject.metadata.annotations['${CREATED_BY_ANNOTATION}']}}}
  : Object{}`,
          },
        }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicyBinding',
      metadata: { name: CREATOR_POLICY_NAME, labels },
      spec: { policyName: CREATOR_POLICY_NAME },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: EXCEPTION_POLICY_NAME, labels },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: matchConstraints(['CREATE', 'UPDATE']),
        // Writes that change neither the spec nor the creator (labels, the operator's status) need no look.
        matchConditions: [{
          name: 'spec-or-creator-changes',
          expression: `request.operation == 'CREATE' || object.spec != oldObject.spec || (${creator('object')}) != (${creator('oldObject')})`,
        }],
        variables: variables(),
        validations: validations(),
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: EXCEPTION_POLICY_NAME, labels },
      spec: { policyName: EXCEPTION_POLICY_NAME, validationActions: ['Deny'] },
    },
  ];
}

export function renderExceptionPolicies(): string {
  const header = [
    '# Generated by hack/exception-policy.ts (node hack/exception-policy.ts); do not edit.',
    '# Stamps who creates a BaselineException, and refuses one that ends in the past',
    `# or more than ${MAX_EXCEPTION_DAYS} days after its creation, or whose author could not make`,
    '# each relaxation directly, in each namespace it names. Installed with the CRD.',
  ];
  return yamlDocuments(header, buildExceptionPolicies());
}

if (isMain(import.meta.url)) await writeOrCheck(output, renderExceptionPolicies(), 'hack/exception-policy.ts');

// The image policy and the admission gate, as built by src/resources, enforced
// by the real API server. No operator runs here: the objects are applied
// directly as admin with the operator's field manager, and the test plays the
// operator's part where one is needed (the namespace's applied annotation).
import { beforeAll, describe, expect, test } from '@jest/globals';
import {
  AppsV1Api, CoreV1Api, KubernetesObjectApi, PatchStrategy,
  type V1Container, type V1PodSpec, type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import { APPLIED_ANNOTATION, FIELD_MANAGER } from '../../src/api/constants.ts';
import { buildAdmissionGate } from '../../src/resources/admissiongate.ts';
import { allowedPrefixes, buildImagePolicy, imageAllowed, normalizePrefix } from '../../src/resources/imagepolicy.ts';
import { applyAsOperator as apply, attempt, baselineObject as baseline, expectRefusedBy, templateKinds } from '../support/admission.ts';
import {
  adminKubeConfig, createTestNamespace, eventually, uniqueName, waitForDefaultServiceAccount,
} from '../support/cluster.ts';

const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const objects = KubernetesObjectApi.makeApiClient(kc);
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const DRY_RUN = 'All';

function containers(images: readonly string[], prefix: string): V1Container[] {
  return images.map((image, i) => ({ name: `${prefix}${i}`, image }));
}

function podSpec(images: readonly string[], initImages: readonly string[] = []): V1PodSpec {
  return {
    containers: containers(images, 'app'),
    ...(initImages.length > 0 ? { initContainers: containers(initImages, 'init') } : {}),
  };
}

/** Creates a pod; a dry run unless `persist`, since admission runs the same either way. */
function createPod(namespace: string, images: readonly string[], initImages: readonly string[] = [], persist = false): Promise<unknown> {
  return core.createNamespacedPod({
    namespace,
    body: { metadata: { name: uniqueName('pod') }, spec: podSpec(images, initImages) },
    ...(persist ? {} : { dryRun: DRY_RUN }),
  });
}

/** Retries until the policy refuses `image` in `namespace`: policies reach admission through an informer. */
async function untilEnforced(namespace: string, image: string, policy: string): Promise<void> {
  await eventually(async () => {
    const outcome = await attempt(createPod(namespace, [image]));
    if (outcome.admitted) return false;
    expectRefusedBy(outcome, policy);
    return true;
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

const selectorLabel = 'sbo-admission-test';

/** One image and what the policy should do with it (objects: jest would take a third positional parameter for `done`). */
interface Row {
  image: string;
  admitted: boolean;
  message?: string;
}

describe('image policy', () => {
  const registries = uniqueName('registries');
  const hub = uniqueName('hub');
  const escaped = uniqueName('escaped');
  const registriesPolicy = `security-baseline-${registries}-images`;
  const hubPolicy = `security-baseline-${hub}-images`;
  const escapedPolicy = `security-baseline-${escaped}-images`;
  const registriesAllowed = ['registry.example.com/', 'ghcr.io/acme/', 'localhost:5000/'];
  const hubAllowed = ['docker.io/library/', 'index.docker.io/acme/', 'registry.example.com:5000/'];
  const escapedAllowed = ['registry.example.com/"quoted"/', 'registry.example.com/back\\slash/', 'ünï.example/😀/'];
  let selected: string;
  let dockerHub: string;
  let excluded: string;
  let operatorNamespace: string;
  let escapes: string;
  let grandfathered: string;

  beforeAll(async () => {
    [selected, dockerHub, excluded, operatorNamespace, escapes] = await Promise.all([
      createTestNamespace('images', { [selectorLabel]: registries }),
      createTestNamespace('images-hub', { [selectorLabel]: hub }),
      createTestNamespace('images-excluded', { [selectorLabel]: registries }),
      createTestNamespace('images-operator', { [selectorLabel]: registries }),
      createTestNamespace('images-escapes', { [selectorLabel]: escaped }),
    ]);
    await Promise.all([selected, dockerHub, excluded, operatorNamespace, escapes].map(waitForDefaultServiceAccount));
    // A pod from before the policy, with an image it does not allow.
    grandfathered = uniqueName('before');
    await core.createNamespacedPod({ namespace: selected, body: { metadata: { name: grandfathered }, spec: podSpec(['nginx:1.27']) } });

    const selecting = (value: string) => ({ matchLabels: { [selectorLabel]: value } });
    await apply(buildImagePolicy(baseline(registries, {
      namespaceSelector: selecting(registries), excludeNamespaces: [excluded], imagePolicy: { allowedRegistries: registriesAllowed },
    }), operatorNamespace));
    await apply(buildImagePolicy(baseline(hub, { namespaceSelector: selecting(hub), imagePolicy: { allowedRegistries: hubAllowed } }), operatorNamespace));
    await apply(buildImagePolicy(baseline(escaped, {
      namespaceSelector: selecting(escaped), imagePolicy: { allowedRegistries: escapedAllowed },
    }), operatorNamespace));
    await untilEnforced(selected, 'nginx', registriesPolicy);
    await untilEnforced(dockerHub, 'evil/nginx', hubPolicy);
    await untilEnforced(escapes, 'nginx', escapedPolicy);
  });

  test.each([
    { image: 'registry.example.com/app:1.0', admitted: true },
    { image: `registry.example.com/team/app@${DIGEST}`, admitted: true },
    { image: `registry.example.com/team/app:1.0@${DIGEST}`, admitted: true },
    // Hosts are case-insensitive (DNS, TLS): the runtime pulls this from registry.example.com.
    { image: 'REGISTRY.Example.com/app:1.0', admitted: true },
    { image: 'ghcr.io/acme/tool:2', admitted: true },
    { image: 'localhost:5000/app', admitted: true },
    { image: 'nginx', admitted: false, message: 'nginx (docker.io/library/nginx)' },
    { image: 'library/nginx:1.27', admitted: false, message: 'library/nginx:1.27 (docker.io/library/nginx:1.27)' },
    { image: 'acme/app', admitted: false, message: 'acme/app (docker.io/acme/app)' },
    // Another port is another registry.
    { image: `registry.example.com:5000/app@${DIGEST}`, admitted: false, message: `registry.example.com:5000/app@${DIGEST}` },
    { image: 'registry.example.com.evil.io/x', admitted: false, message: 'refused: registry.example.com.evil.io/x' },
    { image: 'evil.io/registry.example.com/x', admitted: false, message: 'refused: evil.io/registry.example.com/x' },
    { image: 'ghcr.io/acmecorp/tool', admitted: false, message: 'refused: ghcr.io/acmecorp/tool' },
    { image: 'ghcr.io/acme:1', admitted: false, message: 'refused: ghcr.io/acme:1' },
    { image: 'localhost/app', admitted: false, message: 'refused: localhost/app' },
    { image: 'localhost:5001/app', admitted: false, message: 'refused: localhost:5001/app' },
  ] as Row[])('registry prefixes: pod with $image admitted: $admitted', async ({ image, admitted, message }) => {
    // The pre-flight's TypeScript normalisation decides as the API server does.
    expect(imageAllowed(image, allowedPrefixes({ allowedRegistries: registriesAllowed }))).toBe(admitted);
    const outcome = await attempt(createPod(selected, [image]));
    if (admitted) {
      expect(outcome).toEqual({ admitted: true });
      return;
    }
    expectRefusedBy(outcome, registriesPolicy, message);
    if (!outcome.admitted) {
      expect(outcome.message).toContain('allows images only from registry.example.com/, ghcr.io/acme/, localhost:5000/');
    }
  });

  test.each([
    { image: 'nginx', admitted: true },
    { image: 'nginx:1.27', admitted: true },
    { image: `library/nginx@${DIGEST}`, admitted: true },
    { image: 'docker.io/nginx', admitted: true },
    { image: 'docker.io/library/nginx:1.27', admitted: true },
    { image: `index.docker.io/library/nginx:1.27@${DIGEST}`, admitted: true },
    { image: 'acme/app', admitted: true },
    { image: 'docker.io/acme/app:2', admitted: true },
    { image: `registry.example.com:5000/app@${DIGEST}`, admitted: true },
    { image: 'evil/nginx', admitted: false, message: 'evil/nginx (docker.io/evil/nginx)' },
    { image: 'docker.io.evil.io/library/nginx', admitted: false, message: 'refused: docker.io.evil.io/library/nginx' },
    { image: 'acmecorp/app', admitted: false, message: 'acmecorp/app (docker.io/acmecorp/app)' },
    { image: 'registry.example.com/app', admitted: false, message: 'refused: registry.example.com/app' },
  ] as Row[])('Docker Hub prefixes: pod with $image admitted: $admitted', async ({ image, admitted, message }) => {
    expect(imageAllowed(image, allowedPrefixes({ allowedRegistries: hubAllowed }))).toBe(admitted);
    const outcome = await attempt(createPod(dockerHub, [image]));
    if (admitted) expect(outcome).toEqual({ admitted: true });
    else expectRefusedBy(outcome, hubPolicy, message);
  });

  test('every offending container and init container is named; an allowed pod is really created', async () => {
    const outcome = await attempt(createPod(selected, ['registry.example.com/app', 'busybox'], ['ghcr.io/acme/init', 'alpine:3']));
    expectRefusedBy(outcome, registriesPolicy, 'refused: busybox (docker.io/library/busybox), alpine:3 (docker.io/library/alpine:3)');
    expectRefusedBy(await attempt(createPod(selected, ['registry.example.com/app'], ['alpine:3'])), registriesPolicy, 'alpine:3');
    expect(await attempt(createPod(selected, ['registry.example.com/app'], ['ghcr.io/acme/init'], true))).toEqual({ admitted: true });
  });

  describe.each(templateKinds(kc))('%s', (_kind, create) => {
    const template = (images: string[], initImages: string[] = []): V1PodTemplateSpec => ({
      metadata: { labels: { app: 'x' } }, spec: podSpec(images, initImages),
    });

    test('with allowed images: admitted', async () => {
      expect(await attempt(create(selected, template(['registry.example.com/app:1'], ['localhost:5000/init'])))).toEqual({ admitted: true });
    });

    test('with a disallowed image in the template: refused at apply time, naming it', async () => {
      expectRefusedBy(await attempt(create(selected, template(['nginx']))), registriesPolicy, 'refused: nginx (docker.io/library/nginx)');
      expectRefusedBy(await attempt(create(selected, template(['registry.example.com/app'], ['registry.example.com.evil.io/init']))),
        registriesPolicy, 'refused: registry.example.com.evil.io/init');
    });

    test('in an excluded namespace: not affected', async () => {
      expect(await attempt(create(excluded, template(['nginx'])))).toEqual({ admitted: true });
    });
  });

  test('ephemeral containers (the pods/ephemeralcontainers subresource) are checked too', async () => {
    const name = uniqueName('debugged');
    await core.createNamespacedPod({ namespace: selected, body: { metadata: { name }, spec: podSpec(['registry.example.com/app']) } });
    const withEphemeral = async (image: string) => {
      const pod = await core.readNamespacedPod({ namespace: selected, name });
      pod.spec!.ephemeralContainers = [...(pod.spec!.ephemeralContainers ?? []), { name: uniqueName('debug'), image }];
      return attempt(core.replaceNamespacedPodEphemeralcontainers({ namespace: selected, name, body: pod }));
    };
    expectRefusedBy(await withEphemeral('busybox'), registriesPolicy, 'refused: busybox (docker.io/library/busybox)');
    expect(await withEphemeral('registry.example.com/debug:1')).toEqual({ admitted: true });
    const pod = await core.readNamespacedPod({ namespace: selected, name });
    expect(pod.spec?.ephemeralContainers?.map((c) => c.image)).toEqual(['registry.example.com/debug:1']);
  });

  test('an update is refused only for the images it introduces', async () => {
    // The pod from before the policy keeps working: its labels can change...
    const before = await core.readNamespacedPod({ namespace: selected, name: grandfathered });
    before.metadata!.labels = { ...before.metadata!.labels, touched: 'true' };
    expect(await attempt(core.replaceNamespacedPod({ namespace: selected, name: grandfathered, body: before }))).toEqual({ admitted: true });
    // ...but a new disallowed image is refused, and an allowed one is not.
    const changed = await core.readNamespacedPod({ namespace: selected, name: grandfathered });
    changed.spec!.containers[0]!.image = 'busybox';
    expectRefusedBy(await attempt(core.replaceNamespacedPod({ namespace: selected, name: grandfathered, body: changed, dryRun: DRY_RUN })),
      registriesPolicy, 'refused: busybox (docker.io/library/busybox)');
    changed.spec!.containers[0]!.image = 'registry.example.com/nginx:1.27';
    expect(await attempt(core.replaceNamespacedPod({ namespace: selected, name: grandfathered, body: changed, dryRun: DRY_RUN }))).toEqual({ admitted: true });

    // A Deployment's template cannot be switched to a disallowed image.
    const name = uniqueName('deploy');
    await apps.createNamespacedDeployment({
      namespace: selected,
      body: { metadata: { name }, spec: { replicas: 0, selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: podSpec(['registry.example.com/app:1']) } } },
    });
    const deployment = await apps.readNamespacedDeployment({ namespace: selected, name });
    deployment.spec!.template.spec!.containers[0]!.image = 'nginx';
    expectRefusedBy(await attempt(apps.replaceNamespacedDeployment({ namespace: selected, name, body: deployment })),
      registriesPolicy, 'refused: nginx (docker.io/library/nginx)');
  });

  test('namespaces excluded by the baseline or the operator\'s own are not affected', async () => {
    expect(await attempt(createPod(excluded, ['nginx']))).toEqual({ admitted: true });
    expect(await attempt(createPod(operatorNamespace, ['nginx'], ['busybox']))).toEqual({ admitted: true });
  });

  test('prefixes with quotes, backslashes and non-ASCII reach the API server\'s CEL exactly', async () => {
    const outcome = await attempt(createPod(escapes, ['nginx']));
    expectRefusedBy(outcome, escapedPolicy, `allows images only from ${escapedAllowed.map((p) => normalizePrefix(p)).join(', ')}; refused: nginx`);
    // One backslash in the prefix, one in the image: the literal decoded to exactly what was written.
    expect(await attempt(createPod(escapes, ['registry.example.com/back\\slash/app']))).toEqual({ admitted: true });
    expect(await attempt(createPod(escapes, ['registry.example.com/back\\\\slash/app']))).toMatchObject({ admitted: false });
  });
});

describe('admission gate', () => {
  const gated = uniqueName('gated');
  const policy = `security-baseline-${gated}-gate`;
  let excluded: string;

  beforeAll(async () => {
    excluded = await createTestNamespace('gate-excluded', { [selectorLabel]: gated });
    await apply(buildAdmissionGate(baseline(gated, {
      namespaceSelector: { matchLabels: { [selectorLabel]: gated } }, excludeNamespaces: [excluded], admissionGate: true,
    }), 'sbo-system'));
    const probe = await createTestNamespace('gate-probe', { [selectorLabel]: gated });
    await waitForDefaultServiceAccount(probe);
    await untilEnforced(probe, 'registry.example.com/app', policy);
  });

  test('refuses pods in a selected namespace until the baseline is recorded as applied there, then admits them', async () => {
    const created = Date.now();
    const namespace = await createTestNamespace('gate', { [selectorLabel]: gated });
    await waitForDefaultServiceAccount(namespace);

    const refused = await attempt(createPod(namespace, ['registry.example.com/app'], [], true));
    expectRefusedBy(refused, policy,
      `the security baseline ${gated} of namespace ${namespace} is being applied: pods are refused until it has been applied once. `
      + 'This refusal is temporary: retry in a few seconds.');

    // What the operator writes once it has applied the baseline (other baselines may be listed too).
    const annotated = Date.now();
    await objects.patch(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, annotations: { [APPLIED_ANNOTATION]: JSON.stringify({ [`a-${gated}`]: 2, [gated]: 1 }) } } },
      undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch,
    );
    await eventually(async () => (await attempt(createPod(namespace, ['registry.example.com/app'], [], true))).admitted || false,
      { timeoutMs: 30_000, intervalMs: 100 });
    const admitted = Date.now();
    process.stderr.write(`admission gate: namespace created → first pod admitted in ${admitted - created} ms `
      + `(annotation written → pod admitted in ${admitted - annotated} ms)\n`);
  });

  test('an excluded namespace is not gated', async () => {
    await waitForDefaultServiceAccount(excluded);
    expect(await attempt(createPod(excluded, ['registry.example.com/app']))).toEqual({ admitted: true });
  });
});

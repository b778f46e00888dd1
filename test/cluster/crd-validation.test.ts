// The SecurityBaseline CRD against the real API server: what it refuses at
// admission, with which message, and what it accepts and defaults. The table
// below doubles as the catalogue of those messages; the run prints it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import {
  API_VERSION, GROUP, KIND, PLURAL, VERSION, type SecurityBaseline, type SecurityBaselineStatus,
} from '../../src/api/types.ts';
import { adminKubeConfig, ignoreNotFound, messageOf, statusOf, uniqueName } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { full, invalid, minimal, type Json } from '../support/baseline-catalogue.ts';

const api = adminKubeConfig().makeApiClient(CustomObjectsApi);
const resource = { group: GROUP, version: VERSION, plural: PLURAL };

const fullStatus: SecurityBaselineStatus = {
  observedGeneration: 1,
  conditions: [
    { type: 'Ready', status: 'False', reason: 'NamespacesDrifted', message: '118/120 namespaces compliant', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 },
    { type: 'Conflict', status: 'True', reason: 'PodSecurityLostTo:tenants', message: 'baseline tenants sets a stricter level', lastTransitionTime: '2026-01-01T00:00:00Z' },
  ],
  namespaces: { selected: 120, compliant: 118, drifted: 2, failed: 0 },
};

async function create(body: Json): Promise<SecurityBaseline> {
  return await api.createClusterCustomObject({ ...resource, body }) as SecurityBaseline;
}

async function read(name: string): Promise<SecurityBaseline> {
  return await api.getClusterCustomObject({ ...resource, name }) as SecurityBaseline;
}

async function remove(name: string): Promise<void> {
  await api.deleteClusterCustomObject({ ...resource, name }).catch(ignoreNotFound);
}

describe('the SecurityBaseline CRD on a real API server', () => {
  const catalogue: { name: string; message: string }[] = [];

  beforeAll(async () => {
    await installCrds();
  });

  afterAll(() => {
    if (catalogue.length === 0) return;
    const lines = catalogue.map(({ name, message }) => `- ${name}\n    ${message}`);
    console.log(`SecurityBaseline refusals (HTTP 422), ${catalogue.length} cases:\n${lines.join('\n')}`);
  });

  test.each(invalid)('refuses $name', async ({ name: caseName, body, message }) => {
    const object = body(uniqueName('sbl'));
    const error = await create(object).then(
      async (created) => {
        await remove(created.metadata.name);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeDefined();
    const text = messageOf(error);
    catalogue.push({ name: caseName, message: text });
    expect({ status: statusOf(error), message: text }).toEqual({ status: 422, message: expect.stringMatching(message) });
  });

  test('accepts a baseline that sets every field, and stores it without pruning anything', async () => {
    const name = uniqueName('sbl-full');
    try {
      await create({ apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: full });
      expect((await read(name)).spec).toEqual(full);
    } finally {
      await remove(name);
    }
  });

  test('accepts a minimal baseline and applies the documented defaults', async () => {
    const name = uniqueName('sbl-minimal');
    try {
      await create(minimal(name));
      expect((await read(name)).spec).toEqual({
        namespaceSelector: {},
        podSecurity: { enforce: 'restricted', version: 'latest' },
        mode: 'Enforce',
        priority: 0,
        deletionPolicy: 'Delete',
        paused: false,
        revisionHistoryLimit: 10,
      });
    } finally {
      await remove(name);
    }
  });

  test('accepts a name of exactly 63 characters', async () => {
    const name = `${uniqueName('sbl-63')}-`.padEnd(63, 'x');
    try {
      const created = await create(minimal(name));
      expect(created.metadata.name).toHaveLength(63);
    } finally {
      await remove(name);
    }
  });

  test('accepts a full status through the status subresource', async () => {
    const name = uniqueName('sbl-status');
    try {
      const created = await create(minimal(name));
      await api.replaceClusterCustomObjectStatus({ ...resource, name, body: { ...created, status: fullStatus } });
      expect((await read(name)).status).toEqual(fullStatus);
    } finally {
      await remove(name);
    }
  });

  test('refuses a misspelt field when the client asks for strict field validation', async () => {
    const name = uniqueName('sbl-typo');
    const error = await api.createClusterCustomObject({
      ...resource, body: minimal(name, { namespaceSelectors: {} }), fieldValidation: 'Strict',
    }).then(async () => {
      await remove(name);
      return undefined;
    }, (e: unknown) => e);
    expect(statusOf(error)).toBe(400);
    expect(messageOf(error)).toMatch(/unknown field "spec\.namespaceSelectors"/);
  });

  test('refuses an unknown field in workloadPolicy when the client asks for strict field validation, as kubectl does', async () => {
    const name = uniqueName('sbl-typo');
    const error = await api.createClusterCustomObject({
      ...resource, body: minimal(name, { workloadPolicy: { readOnlyRootFileSystem: true, exec: { deny: true, allowGroup: ['sre'] } } }), fieldValidation: 'Strict',
    }).then(async () => {
      await remove(name);
      return undefined;
    }, (e: unknown) => e);
    expect(statusOf(error)).toBe(400);
    expect(messageOf(error)).toMatch(/unknown field "spec\.workloadPolicy\.exec\.allowGroup"/);
    expect(messageOf(error)).toMatch(/unknown field "spec\.workloadPolicy\.readOnlyRootFileSystem"/);
  });
});

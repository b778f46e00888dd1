// Jest runs the TypeScript sources as native ES modules:
//  - node runs jest with --experimental-vm-modules (see the `test` script), so
//    ESM-only dependencies (@kubernetes/client-node, p-queue) load as they ship;
//  - @swc/jest strips the types and keeps `import`/`export` as they are
//    (module.type es6), so our own files stay ES modules too;
//  - type checking is not jest's job: `npm run typecheck` (tsc) does it.
// Two projects: `unit` needs nothing; `cluster` gets one real control plane per
// run from its global setup, and its tests isolate themselves by namespace.

/** @type {import('@jest/types').Config.InitialProjectOptions} */
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2024' },
      module: { type: 'es6' },
      sourceMaps: 'inline',
    }],
  },
};

/** @type {import('jest').Config} */
export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'cluster',
      // test/chaos: faults, load and soak; short versions unless SBO_CHAOS=long (make chaos, make soak).
      testMatch: ['<rootDir>/test/cluster/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts', '<rootDir>/test/chaos/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      slowTestThreshold: 30,
    },
  ],
  // One order on every machine (see the file).
  testSequencer: '<rootDir>/test/support/sequencer.js',
  reporters: ['default', '<rootDir>/test/chaos/reporter.js', '<rootDir>/test/support/summary-reporter.js'],
  testTimeout: 60_000,
  // Cluster tests share one control plane and run an operator each, and
  // operators must not run side by side (they would reconcile each other's
  // baselines): run test files one at a time.
  maxWorkers: 1,
  // Files run in this one process, so a handle a failed test leaves open (a
  // child process, a socket, a timer) would keep jest alive after the summary
  // and turn a red run into a CI timeout. Tests still close what they open;
  // this only bounds the cost of one that did not.
  forceExit: true,
};

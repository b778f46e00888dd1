// Runs the test files in one order on every machine: the unit project first
// (seconds, and the quickest signal), then the cluster files by path.
// Jest's default orders by the durations it cached on the last run, or by file
// size on a machine without that cache (a fresh CI machine), so an order that
// passed here could differ there; one fixed order makes a run reproducible.
import Sequencer from '@jest/test-sequencer';

const project = (test) => (test.context.config.displayName?.name === 'unit' ? 0 : 1);

export default class PathOrderSequencer extends Sequencer {
  sort(tests) {
    return [...tests].sort((a, b) => project(a) - project(b) || a.path.localeCompare(b.path));
  }
}

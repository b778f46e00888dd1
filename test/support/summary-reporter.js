// Prints one plain closing line, `N passed, N failed`, that any CI log reader
// understands, and the slowest test files, so a run that grows slower says where.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const files = results.testResults
      .map((file) => ({ path: file.testFilePath.replace(`${process.cwd()}/`, ''), seconds: (file.perfStats.end - file.perfStats.start) / 1000 }))
      .sort((a, b) => b.seconds - a.seconds)
      .slice(0, 15);
    const slowest = files.map((file) => `  ${file.seconds.toFixed(1).padStart(7)} s  ${file.path}`).join('\n');
    process.stderr.write(`\nslowest test files:\n${slowest}\n`);
    process.stderr.write(`\njest: ${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}

import { expect, test } from '@jest/globals';
import { Writable } from 'node:stream';
import { createLogger } from './logger.ts';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _encoding, done) { chunks.push(chunk.toString()); done(); } });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) };
}

test('LOG_FORMAT=pretty without pino-pretty (as in the image) logs JSON and says why, instead of failing to start', () => {
  const out = capture();
  const logger = createLogger({ LOG_FORMAT: 'pretty' }, { canPretty: () => false, destination: out.stream });
  logger.info({ namespace: 'team-a' }, 'namespace reconciled');
  const [warning, line] = out.lines();
  expect(warning).toMatchObject({ level: 40, component: 'security-baseline-operator', msg: expect.stringContaining('pino-pretty') });
  expect(line).toMatchObject({ level: 30, namespace: 'team-a', msg: 'namespace reconciled' });
});

test('JSON by default, at LOG_LEVEL', () => {
  const out = capture();
  const logger = createLogger({ LOG_LEVEL: 'warn' }, { destination: out.stream });
  logger.info('not shown');
  logger.warn('shown');
  expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
});

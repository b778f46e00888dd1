// pino JSON logs, one object per line, for the cluster's log pipeline.
// LOG_LEVEL sets the level (default info); LOG_FORMAT=pretty prints
// human-readable lines for local runs (needs the pino-pretty dev dependency).
import { pino, type Logger } from 'pino';
import { OPERATOR_NAME } from '../api/constants.ts';

export function createLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  const level = env.LOG_LEVEL ?? 'info';
  if (env.LOG_FORMAT === 'pretty') {
    return pino({ level, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ level, base: { component: OPERATOR_NAME } });
}

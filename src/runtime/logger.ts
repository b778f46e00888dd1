// pino JSON logs, one object per line, for the cluster's log pipeline.
// LOG_LEVEL sets the level (default info); LOG_FORMAT=pretty prints
// human-readable lines for local runs. pino-pretty is a development
// dependency, absent from the image: there, pretty falls back to JSON with a
// warning rather than failing to start.
import { pino, type DestinationStream, type Logger } from 'pino';
import { OPERATOR_NAME } from '../api/constants.ts';

function resolvable(specifier: string): boolean {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

export function createLogger(
  env: NodeJS.ProcessEnv = process.env, options: { canPretty?: () => boolean; destination?: DestinationStream } = {},
): Logger {
  const level = env.LOG_LEVEL ?? 'info';
  const canPretty = options.canPretty ?? (() => resolvable('pino-pretty'));
  if (env.LOG_FORMAT === 'pretty' && canPretty()) {
    return pino({ level, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  const logger = options.destination ? pino({ level, base: { component: OPERATOR_NAME } }, options.destination) : pino({ level, base: { component: OPERATOR_NAME } });
  if (env.LOG_FORMAT === 'pretty') logger.warn('LOG_FORMAT=pretty needs the pino-pretty package, which is not installed here (it is a development dependency): logging JSON');
  return logger;
}

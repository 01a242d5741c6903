import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * pino JSON logs. Anything that may hold a credential is redacted wherever it appears in a log
 * object: authorization headers, AWS keys and session tokens, the API tokens.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'api' },
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          'authorization',
          '*.authorization',
          'credentials',
          '*.credentials',
          '*.*.credentials',
          'accessKeyId',
          'secretAccessKey',
          'sessionToken',
          '*.accessKeyId',
          '*.secretAccessKey',
          '*.sessionToken',
          'apiTokens',
          '*.apiTokens',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

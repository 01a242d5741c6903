/** One wrong variable: its name and what it must be. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/**
 * The environment of a process is wrong. The message names each variable, what it must be and the
 * value given (never the value of a secret such as API_TOKENS). Every process exits with
 * {@link CONFIG_ERROR_EXIT_CODE} on it.
 */
export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: ConfigProblem[],
    given: Record<string, string | undefined> = {},
  ) {
    const lines = problems.map(({ variable, message }) => {
      const value = SECRET_VARIABLES.has(variable) ? undefined : given[variable];
      // A message that already names its variable (e.g. `SWEEP_TARGET_ROLES: "x" is not…`) stands alone.
      const text = message.startsWith(variable) ? message : `${variable} ${message}`;
      return `  ${text}${value !== undefined && !message.includes(JSON.stringify(value)) ? ` (got ${JSON.stringify(value)})` : ''}`;
    });
    super(`${service}: Invalid configuration:\n${lines.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Variables whose value must never appear in a message or log. */
const SECRET_VARIABLES: ReadonlySet<string> = new Set(['API_TOKENS']);

/** The exit code of every process (API, workers, CLIs) whose configuration is wrong. */
export const CONFIG_ERROR_EXIT_CODE = 2;

/** Prints a configuration error and exits with {@link CONFIG_ERROR_EXIT_CODE}; other errors are rethrown. */
export function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(CONFIG_ERROR_EXIT_CODE);
}

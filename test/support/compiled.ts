/**
 * The worker services and the CLI compiled once per test run, as production runs them (`pnpm build`:
 * one esbuild bundle per entry, `node services/<name>/dist/main.js`). A process started from its
 * TypeScript sources (`node --import tsx`) spends about a second of CPU compiling and resolving
 * modules through tsx's loader before it does anything; the integration run starts a few hundred of
 * them on a 2-core machine. The global setup (test/global-setup.ts) builds the bundles from this
 * checkout's sources; an entry without a bundle (another file, or no global setup) runs through tsx.
 */
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { bundle, SERVICE_EXTERNALS } from '../../scripts/bundle.ts';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

/**
 * The entries the tests start as processes, by the name of their bundle. A bundle goes one folder
 * below its package, as `pnpm build` puts it (dist/): the package's node_modules and `../package.json`
 * (the CLI's version) are found as in production.
 */
const COMPILED_ENTRIES: Record<string, string> = {
  'snapshot-worker': 'services/snapshot-worker/src/main.ts',
  'share-worker': 'services/share-worker/src/main.ts',
  'instance-worker': 'services/instance-worker/src/main.ts',
  cli: 'packages/cli/src/main.ts',
};

/** The name of this run's bundle folders (a variable every test worker inherits). */
export const COMPILED_FOLDER_VARIABLE = 'EC2_RESTORE_TEST_BUILD';

function bundlePath(folder: string, name: string): string {
  return join(REPO_ROOT, dirname(dirname(COMPILED_ENTRIES[name]!)), folder, `${name}.js`);
}

/**
 * Builds every bundle into `<package>/<folder>/` (a name of this run's own, e.g. `.test-build-<pid>`,
 * so runs at once in one checkout do not meet); returns a function that removes them.
 */
export async function compileEntries(folder: string): Promise<() => void> {
  const remove = () => {
    for (const name of Object.keys(COMPILED_ENTRIES))
      rmSync(dirname(bundlePath(folder, name)), { recursive: true, force: true });
  };
  try {
    await Promise.all(
      Object.entries(COMPILED_ENTRIES).map(([name, entry]) =>
        bundle({
          entry: join(REPO_ROOT, entry),
          outfile: bundlePath(folder, name),
          external: SERVICE_EXTERNALS,
        }),
      ),
    );
  } catch (error) {
    remove();
    throw error;
  }
  return remove;
}

/**
 * Node's arguments to run `entry` (a TypeScript entry, relative to the repository root): this run's
 * bundle of it when there is one, else the sources through tsx.
 */
export function nodeArgsFor(entry: string): string[] {
  const folder = process.env[COMPILED_FOLDER_VARIABLE];
  const normalized = relative(REPO_ROOT, resolve(REPO_ROOT, entry));
  const name = Object.keys(COMPILED_ENTRIES).find((key) => COMPILED_ENTRIES[key] === normalized);
  const compiled = folder && name ? bundlePath(folder, name) : undefined;
  if (compiled && existsSync(compiled)) return ['--enable-source-maps', compiled];
  return ['--import', 'tsx', entry];
}

/**
 * How the project compiles a TypeScript entry to one plain-JavaScript ES module (esbuild): used by
 * `pnpm build` for the services and the CLI, and by benchmarks that measure what production runs.
 */
import { build, type Metafile } from 'esbuild';

// Bundled CommonJS packages call require(); an ES module has none, so the bundle makes one.
const banner = [
  "import { createRequire as __ec2RestoreCreateRequire } from 'node:module';",
  'const require = __ec2RestoreCreateRequire(import.meta.url);',
].join('\n');

/**
 * Packages a service bundle leaves as imports: they read files of their own package folder at run time
 * (Bull Board's UI, Swagger UI's assets) or are optional native add-ons.
 */
export const SERVICE_EXTERNALS = [
  '@bull-board/*',
  'swagger-ui-dist',
  'msgpackr-extract',
  'cpu-features',
  'ssh2',
];

export interface BundleOptions {
  /** Absolute path of the TypeScript entry. */
  entry: string;
  /** Absolute path of the JavaScript file written. */
  outfile: string;
  /** Packages left as imports (they read files of their own package folder, or are native add-ons). */
  external?: string[];
}

/** Compiles `entry` and everything it imports (workspace packages and third-party code) into `outfile`. */
export async function bundle(options: BundleOptions): Promise<Metafile> {
  const result = await build({
    entryPoints: [options.entry],
    outfile: options.outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    external: options.external ?? [],
    banner: { js: banner },
    logLevel: 'warning',
    metafile: true,
  });
  return result.metafile;
}

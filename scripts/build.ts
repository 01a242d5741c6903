/**
 * `pnpm build [TARGET...]`: compiles the services and the CLI to plain JavaScript, so production runs
 * `node services/<name>/dist/main.js` (no tsx, no TypeScript at run time).
 *
 * Each target is one ES module bundled by esbuild from its entry: our workspace packages and the
 * third-party code are inlined, except the packages listed in `external`, which read files of their
 * own package folder at run time (Bull Board's UI, Swagger UI's assets) or are optional native
 * add-ons; those stay imports, resolved from the service's node_modules. Targets: the service names,
 * `cli`, or nothing for all.
 */
import { rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { bundle, SERVICE_EXTERNALS } from './bundle.ts';

const root = resolve(import.meta.dirname, '..');

interface Target {
  entry: string;
  outfile: string;
  external: string[];
}

const services = ['api', 'snapshot-worker', 'share-worker', 'instance-worker'] as const;
const targets: Record<string, Target> = {
  ...Object.fromEntries(
    services.map((service) => [
      service,
      {
        entry: `services/${service}/src/main.ts`,
        outfile: `services/${service}/dist/main.js`,
        external: SERVICE_EXTERNALS,
      },
    ]),
  ),
  // The CLI has no run-time dependencies: one file that any Node 20 runs.
  cli: { entry: 'packages/cli/src/main.ts', outfile: 'packages/cli/dist/ec2-restore.js', external: [] },
};

async function buildTarget(name: string, target: Target): Promise<void> {
  const outfile = join(root, target.outfile);
  rmSync(join(outfile, '..'), { recursive: true, force: true });
  const started = Date.now();
  const metafile = await bundle({ entry: join(root, target.entry), outfile, external: target.external });
  const inputs = Object.keys(metafile.inputs).length;
  console.log(
    `built ${name}: ${relative(process.cwd(), outfile)} (${(statSync(outfile).size / 1024).toFixed(0)} KiB from ${inputs} files, ${Date.now() - started} ms)`,
  );
}

const requested = process.argv.slice(2);
for (const name of requested) {
  if (!(name in targets)) {
    console.error(`unknown build target "${name}"; the targets are ${Object.keys(targets).join(', ')}`);
    process.exit(2);
  }
}
for (const name of requested.length > 0 ? requested : Object.keys(targets)) {
  await buildTarget(name, targets[name]!);
}

/**
 * `ec2-restore`: the command line of the ec2-restore API. `pnpm ec2-restore --help` in the workspace;
 * `bin/ec2-restore.js` (compiled) when installed on its own. Exit codes: exit-codes.ts.
 */
import { run } from './cli.ts';
import { ExitCode } from './exit-codes.ts';
import { streamOutput } from './output.ts';

/** The process entry: real streams, Ctrl-C stops following (the restore goes on). */
async function main(): Promise<void> {
  const controller = new AbortController();
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(ExitCode.Interrupted);
    interrupted = true;
    controller.abort();
  });
  const code = await run(process.argv.slice(2), {
    stdout: streamOutput(process.stdout),
    stderr: streamOutput(process.stderr),
    signal: controller.signal,
  });
  process.exitCode = code;
  // Open sockets (an aborted event stream) must not keep the process alive once the answer is out.
  process.stdout.write('', () => process.exit(code));
}

await main();

#!/usr/bin/env node
// The operator CLI, run from TypeScript source through tsx (the workspace has no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));

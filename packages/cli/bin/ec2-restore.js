#!/usr/bin/env node
// The compiled CLI (npm pack / an installed copy). In the workspace, `pnpm ec2-restore` runs the sources.
import '../dist/ec2-restore.js';

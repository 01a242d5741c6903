#!/usr/bin/env bash
# The README's test command: bootstrap, then lint, type-check and every test (unit and integration:
# real redis-server and the local AWS emulator, started and stopped by the test run itself).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec pnpm test "$@"

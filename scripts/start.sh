#!/usr/bin/env bash
# The README's start command: bootstrap, then run the product on its embedded defaults.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec pnpm --silent start "$@"

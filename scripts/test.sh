#!/usr/bin/env bash
# The README's test command: bootstrap, then lint, type-check and every test (unit and integration:
# real redis-server and the local AWS emulator, started and stopped by the test run itself).
# Arguments go to vitest (e.g. `bash scripts/test.sh --project unit`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
pnpm run lint

# tsc runs on one core for about 15 s while the unit tests and the integration run's set-up (emulator,
# bundles) leave the other one mostly idle: the type-check runs beside vitest, and its output is
# printed (and its failure counted) once vitest is done.
typecheck_log=$(mktemp)
trap 'rm -f "$typecheck_log"' EXIT
pnpm run typecheck >"$typecheck_log" 2>&1 &
typecheck=$!

status=0
pnpm exec vitest run "$@" || status=$?

typecheck_status=0
wait "$typecheck" || typecheck_status=$?
cat "$typecheck_log"
if [ "$typecheck_status" -ne 0 ]; then
  echo "type-check failed (pnpm run typecheck, exit $typecheck_status): see above" >&2
  [ "$status" -ne 0 ] || status=$typecheck_status
fi
exit "$status"

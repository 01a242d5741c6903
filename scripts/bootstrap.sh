#!/usr/bin/env bash
# Checks and installs what ec2-restore needs on a fresh machine, then returns. Sourced by
# scripts/test.sh and scripts/start.sh. It installs only into the project (pnpm packages) and pnpm itself
# (from npm); for system packages it says exactly what to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]" 2>/dev/null || true)
missing=()

if ! command -v node >/dev/null 2>&1; then
  echo "ec2-restore needs Node.js 20 or newer: https://nodejs.org/ (or your package manager's nodejs)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "ec2-restore needs Node.js 20 or newer; this is $(node --version)" >&2
  exit 1
fi

# The local AWS emulator is moto's server (pinned: the emulator patches moto 5.2.1's internals).
if ! python3 -c 'import moto, sys; sys.exit(0 if moto.__version__ == "5.2.1" else 1)' >/dev/null 2>&1; then
  have=$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo none)
  missing+=("python3 with moto 5.2.1 (found: $have): python3 -m pip install 'moto[server]==5.2.1'")
fi
# Redis: REDIS_URL, or Docker (testcontainers), or a local redis-server.
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  missing+=("redis-server: apt-get install -y redis-server (Debian/Ubuntu), brew install redis (macOS), or set REDIS_URL, or run a Docker engine")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "ec2-restore: missing prerequisites:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  exit 1
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "installing pnpm@$PNPM_VERSION from npm (corepack is not used: its signature check fails on some machines)"
  npm install -g --silent "pnpm@$PNPM_VERSION"
fi
pnpm install --frozen-lockfile

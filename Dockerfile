# syntax=docker/dockerfile:1
# One image for the API and every worker: SERVICE picks which one runs
# (node services/$SERVICE/dist/main.js, compiled JavaScript). docker-compose.yml and the Kubernetes
# manifests set the command per service.

FROM node:20-bookworm-slim AS base
ARG PNPM_VERSION=10.34.9
# pnpm from npm (corepack's signature check fails on some machines).
RUN npm install -g "pnpm@${PNPM_VERSION}" && pnpm --version
WORKDIR /app

FROM base AS deps
# Only the lockfile: this layer (the package store) is rebuilt only when dependencies change.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch

FROM deps AS build
COPY . .
RUN pnpm install --offline --frozen-lockfile
# Compile each service to one JavaScript file (scripts/build.ts, esbuild), then keep only the
# production dependencies (the few packages the bundles load at run time: Bull Board, Swagger UI).
RUN pnpm build && pnpm install --offline --frozen-lockfile --prod

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Plain node runs the compiled services: no TypeScript, no tsx at run time.
COPY --from=build --chown=node:node /app /app
USER node
ARG SERVICE=api
ENV SERVICE=${SERVICE}
EXPOSE 8080
# exec replaces the shell with node, so SIGTERM reaches node and running jobs finish cleanly.
CMD ["sh", "-c", "exec node services/${SERVICE}/dist/main.js"]

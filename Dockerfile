# syntax=docker/dockerfile:1
# One image for the API and every worker: SERVICE picks which one runs
# (node --import tsx services/$SERVICE/src/main.ts). docker-compose.yml sets the command per service.

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

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# The services run from TypeScript sources with tsx: no build step, the workspace is the app.
COPY --from=build --chown=node:node /app /app
USER node
ARG SERVICE=api
ENV SERVICE=${SERVICE}
EXPOSE 8080
# exec replaces the shell with node, so SIGTERM reaches node and running jobs finish cleanly.
CMD ["sh", "-c", "exec node --import tsx services/${SERVICE}/src/main.ts"]

# Images for both services, from the repository root:
#   docker build --target api    -t imagegen-api .
#   docker build --target worker -t imagegen-worker .
# (docker compose builds both; see docker-compose.yml.)
#
# Stages: `build` installs the whole workspace from the lockfile, compiles it with `tsc -b`, and
# uses `pnpm deploy` to write each service with only its production dependencies (the workspace
# packages @imagegen/shared and @imagegen/core copied in, not linked) to /out/<service>. The
# runtime stages copy just package.json, dist and node_modules from there.

ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0 \
    CI=true
RUN corepack enable pnpm && corepack install -g pnpm@10.34.8
WORKDIR /repo

# Dependencies from the lockfile alone, so editing sources does not download them again.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch

COPY . .
RUN pnpm install --frozen-lockfile --offline
RUN pnpm build

# pnpm 10 deploys only with injected workspace packages (or --legacy, which re-resolves versions
# instead of using the lockfile); the setting is given here so the workspace's config stays as is.
RUN pnpm --filter @imagegen/api deploy --prod --offline --config.inject-workspace-packages=true /out/api \
 && pnpm --filter @imagegen/worker deploy --prod --offline --config.inject-workspace-packages=true /out/worker


FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root (read-only to the service); the process runs as the image's `node` user.
USER node


FROM runtime AS api
COPY --from=build /out/api/package.json ./
COPY --from=build /out/api/node_modules ./node_modules
COPY --from=build /out/api/dist ./dist
EXPOSE 8000
# Liveness: the process answers on PORT. (docker-compose.yml checks /readyz instead.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]


FROM runtime AS worker
COPY --from=build /out/worker/package.json ./
COPY --from=build /out/worker/node_modules ./node_modules
COPY --from=build /out/worker/dist ./dist
# The health endpoint only; the worker takes its work from Redis.
EXPOSE 8001
# 200 while the worker consumes the queue and Redis is connected.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.WORKER_HEALTH_PORT || 8001) + '/', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]

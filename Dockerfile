# syntax=docker/dockerfile:1
#
# Backplane image: `docker build -t backplane .`, then `docker run -p 3000:3000 backplane`.
# The container runs `npm start` as one process tree: a cluster primary with WEB_CONCURRENCY web
# workers and, when Redis is configured, JOB_PROCESSES job processes. docs/deploy-caprover.md
# and docs/operations.md say how to run several containers.
#
# test/deploy/dockerfile-steps.test.ts follows this file outside Docker: it reads the RUN, COPY,
# ENV, HEALTHCHECK and CMD lines, so keep one instruction per purpose and keep the system
# packages (apt-get) in RUN lines of their own, which the test skips.

# Node.js 26 is the Active LTS line from 2026-10-28 to 2027-10-20 and is maintained until
# 2029-04-30 (Node.js release schedule); Node.js 24 moved to maintenance on 2026-10-20. The
# major version is pinned so that a rebuild never changes it; the slim Debian 13 (trixie)
# variant has no compiler and no curl.
ARG NODE_IMAGE=node:26-trixie-slim

# ---- build: compile the TypeScript with every dependency ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app

COPY package.json package-lock.json ./
# The sources are not here yet, so `prepare` (npm run build) is skipped and run below.
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build

# ---- runtime: production dependencies, the compiled output and the shipped datasets ----
FROM ${NODE_IMAGE} AS runtime

# tini is PID 1: it forwards SIGTERM to the primary, which stops its children in order, and it
# reaps orphaned processes. Without it, run the container with `docker run --init`.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Uploaded datasets (DATA_DIR) are the only files Backplane writes. Mount a volume on /data to
# keep them across containers; every instance must see the same folder.
RUN mkdir -p /data && chown node:node /data

COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc, which is a devDependency; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist ./dist
COPY data ./data

# Defaults of the image; every other setting keeps the default of the README's settings table.
#   PORT 3000            the port EXPOSEd below and probed by HEALTHCHECK.
#   DATA_DIR /data       folder of uploaded datasets (see the mkdir above).
#   NODE_ENV production  for express and the libraries.
# Set at run time, not here:
#   ConnectionStrings__Redis or REDIS_URL  Redis, for BullMQ job processes and several containers.
#   WEB_CONCURRENCY      web workers; the default, os.availableParallelism(), counts the host's
#                        cores and ignores a container CPU limit, so set it to that limit.
#   JOB_PROCESSES        job processes per container with Redis (default 1; 0 when another
#                        container runs `node dist/workers/main.js`).
#   CLIENT_TRANSPORTS    auto (default): clients use WebSocket only when Redis is configured.
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data

USER node
EXPOSE 3000

# /healthz answers 200 while the process is up; /readyz would also fail while Redis is down,
# and a restart does not fix Redis. node -e stands in for curl, which the slim image lacks.
# The probe uses 127.0.0.1, so HOST must be unset, :: or 0.0.0.0 for it to pass.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
# The same as `npm start`, without an npm process between tini and the primary, so that the
# primary receives the stop signal itself.
CMD ["node", "dist/src/main.js"]

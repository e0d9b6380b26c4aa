# syntax=docker/dockerfile:1
# The Node runtime image: ghcr.io/kube-serverless/runtime-node:<version>.
# NOT BUILT HERE: the build machine has no container engine. Build from the
# repository root:
#   docker build -f deploy/docker/runtime-node.Dockerfile -t ghcr.io/kube-serverless/runtime-node:0.1.0 .
#
# Runs dist/runtimes/node/server.js (Node built-ins only, no node_modules), the same
# command the local provider launches (NODE_COMMAND in
# src/providers/local/runtime-launchers.ts). Code arrives at start through
# code-entrypoint.sh (KSS_CODE_PARTS_DIR: the ConfigMap parts, concatenated in
# name order; or KSS_CODE_URL → /home/app/function, then exec).
# Listens on PORT (8080); GET /health, /ready, /metrics are the runtime's.

FROM node:20-alpine AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY runtimes ./runtimes
COPY test ./test
COPY bench ./bench
RUN npx tsc -p tsconfig.json --outDir dist

FROM node:20-alpine
# uid 10001, the uid the Deployment's securityContext asks for (FUNCTION_UID in manifests.ts).
RUN addgroup -S -g 10001 app && adduser -S -D -H -u 10001 -G app -h /home/app app \
 && mkdir -p /home/app/function /opt/kss && chown 10001:10001 /home/app/function
COPY --from=build /src/dist/runtimes/node /opt/kss/runtimes/node
COPY deploy/docker/code-entrypoint.sh /usr/local/bin/kss-entrypoint
ENV NODE_ENV=production PORT=8080 KSS_CODE_DIR=/home/app/function
USER 10001:10001
WORKDIR /home/app/function
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kss-entrypoint"]
CMD ["node", "--experimental-detect-module", "--disable-warning=ExperimentalWarning", "--disable-warning=MODULE_TYPELESS_PACKAGE_JSON", "/opt/kss/runtimes/node/server.js"]

# syntax=docker/dockerfile:1
# The gateway image: ghcr.io/kube-serverless/gateway:<version>, run in the cluster as
# `kss up --provider kubernetes` (deploy/kubernetes/gateway.yaml).
# NOT BUILT HERE: the build machine has no container engine. Build from the
# repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t ghcr.io/kube-serverless/gateway:0.1.0 .
#
# Stage 1 installs everything (better-sqlite3 compiles: python3, make, g++), compiles
# TypeScript and the dashboard (`npm run build`), then drops the dev dependencies.
# Stage 2 is node:20-alpine (same libc as the build, for the native module) with the
# compiled output, production node_modules, the dashboard's static files and the
# Function CRD (src/providers/kubernetes/crd.ts reads deploy/kubernetes/crd.yaml).

FROM node:20-alpine AS build
RUN apk add --no-cache python3 make g++
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-alpine
RUN addgroup -S -g 10001 kss && adduser -S -D -H -u 10001 -G kss kss \
 && mkdir -p /var/kss/data && chown 10001:10001 /var/kss/data
WORKDIR /opt/kube-serverless
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dashboard/dist ./dashboard/dist
COPY --from=build /src/deploy/kubernetes/crd.yaml ./deploy/kubernetes/crd.yaml
COPY --from=build /src/runtimes/python ./runtimes/python
ENV NODE_ENV=production KSS_HOST=0.0.0.0 KSS_PORT=8080 KSS_DATA_DIR=/var/kss/data KSS_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "/opt/kube-serverless/bin/kss.js"]
CMD ["up", "--provider", "kubernetes"]

# syntax=docker/dockerfile:1
# The exec runtime image (OpenFaaS classic watchdog mode): ghcr.io/kube-serverless/runtime-exec:<version>,
# and, with --build-arg RUNTIME=http, the http runtime image (the user's own server).
# NOT BUILT HERE: the build machine has no container engine. Build from the
# repository root:
#   docker build -f deploy/docker/runtime-exec.Dockerfile -t ghcr.io/kube-serverless/runtime-exec:0.1.0 .
#   docker build -f deploy/docker/runtime-exec.Dockerfile --build-arg RUNTIME=http -t ghcr.io/kube-serverless/runtime-http:0.1.0 .
#
# exec: dist/runtimes/exec/server.js runs `fprocess` (the function's envProcess) with
# sh -c per request, as execLauncher in src/providers/local/command-launchers.ts.
# http: `sh -c "exec $fprocess"`: the user's server listens on PORT and answers GET /ready.
# Node and Python 3 are present so commands in either language run. Code arrives at
# start through code-entrypoint.sh (KSS_CODE_PARTS_DIR: the ConfigMap parts, or KSS_CODE_URL → /home/app/function).

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
ARG RUNTIME=exec
RUN apk add --no-cache python3 \
 && addgroup -S -g 10001 app && adduser -S -D -H -u 10001 -G app -h /home/app app \
 && mkdir -p /home/app/function && chown 10001:10001 /home/app/function
# The exec server imports its siblings in runtimes/node (log, lifecycle, identity).
COPY --from=build /src/dist/runtimes/exec /opt/kss/runtimes/exec
COPY --from=build /src/dist/runtimes/node /opt/kss/runtimes/node
COPY deploy/docker/code-entrypoint.sh /usr/local/bin/kss-entrypoint
RUN if [ "$RUNTIME" = http ]; then \
      printf '#!/bin/sh\nexec sh -c "exec ${fprocess:?fprocess (envProcess) starts the server}"\n' > /usr/local/bin/kss-runtime; \
    else \
      printf '#!/bin/sh\nexec node /opt/kss/runtimes/exec/server.js\n' > /usr/local/bin/kss-runtime; \
    fi && chmod 755 /usr/local/bin/kss-runtime
ENV NODE_ENV=production PORT=8080 KSS_CODE_DIR=/home/app/function KSS_RUNTIME=${RUNTIME}
USER 10001:10001
WORKDIR /home/app/function
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kss-entrypoint"]
CMD ["/usr/local/bin/kss-runtime"]

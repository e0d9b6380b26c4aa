# syntax=docker/dockerfile:1
# The Python runtime image: ghcr.io/kube-serverless/runtime-python:<version>.
# NOT BUILT HERE: the build machine has no container engine. Build from the
# repository root:
#   docker build -f deploy/docker/runtime-python.Dockerfile -t ghcr.io/kube-serverless/runtime-python:0.1.0 .
#
# Runs runtimes/python/server.py (standard library only) as the local provider does
# (`python3 -S server.py`, src/providers/local/python-launcher.ts). Code arrives at
# start through code-entrypoint.sh (KSS_CODE_PARTS_DIR: ConfigMap parts, or KSS_CODE_URL →
# /home/app/function, then exec). Listens on PORT (8080).

FROM python:3.11-alpine AS build
WORKDIR /opt/kss/runtimes/python
COPY runtimes/python/server.py runtimes/python/kss_runtime.py runtimes/python/kss_identity.py ./
# Bytecode compiled at build time: the root filesystem is read-only at run time.
RUN python3 -m compileall -q .

FROM python:3.11-alpine
RUN addgroup -S -g 10001 app && adduser -S -D -H -u 10001 -G app -h /home/app app \
 && mkdir -p /home/app/function && chown 10001:10001 /home/app/function
COPY --from=build /opt/kss/runtimes/python /opt/kss/runtimes/python
COPY deploy/docker/code-entrypoint.sh /usr/local/bin/kss-entrypoint
ENV PORT=8080 KSS_CODE_DIR=/home/app/function PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /home/app/function
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kss-entrypoint"]
CMD ["python3", "-S", "/opt/kss/runtimes/python/server.py"]

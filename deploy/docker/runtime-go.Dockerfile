# syntax=docker/dockerfile:1
# The Go runtime image: ghcr.io/kube-serverless/runtime-go:<version>.
# NOT BUILT HERE: the build machine has no container engine. Build from the
# repository root:
#   docker build -f deploy/docker/runtime-go.Dockerfile -t ghcr.io/kube-serverless/runtime-go:0.1.0 .
#
# A Go function is one static binary: the runtime (runtimes/go/main.go) compiled
# together with the user's Handle (src/build/go-builder.ts, CGO_ENABLED=0). So the
# code archive a Go function's pods receive (KSS_CODE_PARTS_DIR or KSS_CODE_URL, see
# code-entrypoint.sh) is the BUILD OUTPUT, with the binary `kss-function` at its root,
# not the source; the image only unpacks it and execs the binary. Alpine (not
# distroless) because the entrypoint needs sh, tar and wget (busybox: ~8 MB).
#
# The build stage checks that the runtime wrapper compiles with the Go this image
# is built with (1.19-compatible code, as Debian's Go here).

FROM golang:1.22-alpine AS build
WORKDIR /src
COPY runtimes/go/main.go ./kss_main.go
RUN printf 'package main\n\nimport "net/http"\n\nvar kssUserHandle = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }\n' > kss_handle.go \
 && go mod init kss.check && CGO_ENABLED=0 go vet ./... && CGO_ENABLED=0 go build -o /dev/null .

FROM alpine:3.20
RUN addgroup -S -g 10001 app && adduser -S -D -H -u 10001 -G app -h /home/app app \
 && mkdir -p /home/app/function && chown 10001:10001 /home/app/function
COPY deploy/docker/code-entrypoint.sh /usr/local/bin/kss-entrypoint
ENV PORT=8080 KSS_CODE_DIR=/home/app/function
USER 10001:10001
WORKDIR /home/app/function
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kss-entrypoint"]
CMD ["/home/app/function/kss-function"]

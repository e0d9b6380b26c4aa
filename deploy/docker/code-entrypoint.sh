#!/bin/sh
# The code delivery contract of the Kube-Serverless runtime images (the ENTRYPOINT of
# runtime-node, runtime-python, runtime-go, runtime-exec and runtime-http).
# NOT RUN HERE: there is no container engine on the build machine; this script is
# written for busybox sh (alpine) and POSIX sh.
#
# The Deployment (src/providers/kubernetes/manifests.ts) sets at most one of:
#   KSS_CODE_ARCHIVE  path of a tar.gz, the ConfigMap `<function>-code` mounted at
#                     /var/kss/code (key code.tar.gz) — archives up to 900 KiB;
#   KSS_CODE_URL      an http(s) URL of the tar.gz in the gateway's code store —
#                     larger archives. Fetched with wget (busybox), 3 attempts.
# and KSS_CODE_DIR=/home/app/function (an emptyDir: the root filesystem is read-only).
# The archive is unpacked into KSS_CODE_DIR; entries that are absolute or climb out
# with ".." are refused (the gateway already refused them at upload; this is a second
# line). Then the runtime is exec'd (so it is PID 1's child-free replacement and gets
# SIGTERM directly): "$@" (the image's CMD).
# With neither variable set (the user's own image, or the exec runtime with only
# fprocess) nothing is unpacked.
# Exit codes: 64 bad configuration, 65 download failed, 66 archive refused or broken.
set -eu

dest="${KSS_CODE_DIR:-/home/app/function}"
archive=""

if [ -n "${KSS_CODE_ARCHIVE:-}" ] && [ -n "${KSS_CODE_URL:-}" ]; then
  echo "[kss-entrypoint] error: set KSS_CODE_ARCHIVE or KSS_CODE_URL, not both" >&2
  exit 64
fi

if [ -n "${KSS_CODE_ARCHIVE:-}" ]; then
  archive="$KSS_CODE_ARCHIVE"
  if [ ! -r "$archive" ]; then
    echo "[kss-entrypoint] error: KSS_CODE_ARCHIVE=$archive cannot be read" >&2
    exit 64
  fi
elif [ -n "${KSS_CODE_URL:-}" ]; then
  archive="/tmp/kss-code.tar.gz"
  n=0
  until wget -q -T 30 -O "$archive" "$KSS_CODE_URL"; do
    n=$((n + 1))
    if [ "$n" -ge 3 ]; then
      echo "[kss-entrypoint] error: could not download the code from KSS_CODE_URL" >&2
      exit 65
    fi
    sleep "$n"
  done
fi

if [ -n "$archive" ]; then
  mkdir -p "$dest"
  # Refuse absolute paths and "..": list the entries before extracting anything.
  if ! entries="$(tar -tzf "$archive")"; then
    echo "[kss-entrypoint] error: the code archive is not a readable tar.gz" >&2
    exit 66
  fi
  if printf '%s\n' "$entries" | grep -Eq '^/|(^|/)\.\.(/|$)'; then
    echo "[kss-entrypoint] error: the code archive has paths outside its folder" >&2
    exit 66
  fi
  tar -xzf "$archive" -C "$dest" -o 2>/dev/null || tar -xzf "$archive" -C "$dest"
  [ "$archive" = "/tmp/kss-code.tar.gz" ] && rm -f "$archive"
  cd "$dest"
fi

exec "$@"

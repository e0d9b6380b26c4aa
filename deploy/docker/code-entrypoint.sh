#!/bin/sh
# The code delivery contract of the Kube-Serverless runtime images (the ENTRYPOINT of
# runtime-node, runtime-python, runtime-go, runtime-exec and runtime-http).
# NOT RUN HERE: there is no container engine on the build machine; this script is
# written for busybox sh (alpine) and POSIX sh (the tests run it with the host's sh).
#
# The Deployment (src/providers/kubernetes/manifests.ts) sets at most one of:
#   KSS_CODE_PARTS_DIR  a folder holding the archive in parts, code.tar.gz.part-000,
#                       code.tar.gz.part-001, …: the ConfigMaps `<function>-code`,
#                       `<function>-code-1`, … (one part each, at most 900 KiB, as a
#                       ConfigMap holds at most 1 MiB) projected into /var/kss/code.
#                       KSS_CODE_PARTS=<n> says how many there must be. The parts are
#                       concatenated in name order (zero-padded: name order is byte
#                       order) and streamed to tar, so no second copy needs room;
#                       a mix of parts of two versions fails gzip's CRC (exit 66).
#   KSS_CODE_ARCHIVE    path of one tar.gz (Deployments written before parts).
#   KSS_CODE_URL        an http(s) URL of the tar.gz in the gateway's code store.
#                       Fetched with wget (busybox) into /tmp, 3 attempts.
# and KSS_CODE_DIR=/home/app/function (an emptyDir: the root filesystem is read-only).
# The archive is unpacked into KSS_CODE_DIR; entries that are absolute or climb out
# with ".." are refused (the gateway already refused them at upload; this is a second
# line). Then the runtime is exec'd (so it is PID 1's child-free replacement and gets
# SIGTERM directly): "$@" (the image's CMD).
# With none of them set (the user's own image, or the exec runtime with only
# fprocess) nothing is unpacked.
# Exit codes: 64 bad configuration, 65 download failed, 66 archive refused, broken or
# incomplete (fewer parts than KSS_CODE_PARTS).
set -eu

dest="${KSS_CODE_DIR:-/home/app/function}"
archive=""
parts_dir=""
# Name order of the parts' glob must not depend on the image's locale.
LC_ALL=C
export LC_ALL

set_count=0
for v in "${KSS_CODE_PARTS_DIR:-}" "${KSS_CODE_ARCHIVE:-}" "${KSS_CODE_URL:-}"; do
  if [ -n "$v" ]; then set_count=$((set_count + 1)); fi
done
if [ "$set_count" -gt 1 ]; then
  echo "[kss-entrypoint] error: set one of KSS_CODE_PARTS_DIR, KSS_CODE_ARCHIVE and KSS_CODE_URL, not several" >&2
  exit 64
fi

if [ -n "${KSS_CODE_PARTS_DIR:-}" ]; then
  parts_dir="$KSS_CODE_PARTS_DIR"
  want="${KSS_CODE_PARTS:-}"
  case "$want" in
    '' | *[!0-9]* | 0)
      echo "[kss-entrypoint] error: KSS_CODE_PARTS=$want must be the number of parts (1 or more)" >&2
      exit 64
      ;;
  esac
  if [ ! -d "$parts_dir" ]; then
    echo "[kss-entrypoint] error: KSS_CODE_PARTS_DIR=$parts_dir is not a folder" >&2
    exit 64
  fi
  have=0
  for f in "$parts_dir"/code.tar.gz.part-*; do
    if [ -r "$f" ]; then have=$((have + 1)); fi
  done
  if [ "$have" -ne "$want" ]; then
    echo "[kss-entrypoint] error: $parts_dir has $have readable code parts, KSS_CODE_PARTS says $want" >&2
    exit 66
  fi
elif [ -n "${KSS_CODE_ARCHIVE:-}" ]; then
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

# The archive's bytes on stdout: the parts in name order, or the one file.
code() {
  if [ -n "$parts_dir" ]; then
    cat "$parts_dir"/code.tar.gz.part-*
  else
    cat "$archive"
  fi
}

if [ -n "$archive" ] || [ -n "$parts_dir" ]; then
  mkdir -p "$dest"
  # Refuse absolute paths and "..": list the entries before extracting anything.
  if ! entries="$(code | tar -tzf -)"; then
    echo "[kss-entrypoint] error: the code archive is not a readable tar.gz" >&2
    exit 66
  fi
  if printf '%s\n' "$entries" | grep -Eq '^/|(^|/)\.\.(/|$)'; then
    echo "[kss-entrypoint] error: the code archive has paths outside its folder" >&2
    exit 66
  fi
  code | tar -xzf - -C "$dest" -o 2>/dev/null || code | tar -xzf - -C "$dest"
  [ "$archive" = "/tmp/kss-code.tar.gz" ] && rm -f "$archive"
  cd "$dest"
fi

exec "$@"

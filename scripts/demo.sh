#!/usr/bin/env bash
# A short tour of the ipy-oci command line with real containers (runc + conmon).
set -euo pipefail
cd "$(dirname "$0")/.."
I=".venv/bin/ipy-oci"
step() { printf '\n\033[1m$ ipy-oci %s\033[0m\n' "$*"; "$I" "$@"; }

step run --rm busybox echo "hello from a container"
step run -d --name demo busybox sh -c 'trap "" TERM; while true; do sleep 1; done'
step ps
step exec demo sh -c 'echo "exec in $(hostname): $(id)"; ls /'
step pause demo
step ps
step unpause demo
step stop -t 1 demo
printf '\n$ ipy-oci inspect demo  (State)\n'
"$I" inspect demo | .venv/bin/python -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0]["State"], indent=2))'
step ps -a
step rm demo
step images

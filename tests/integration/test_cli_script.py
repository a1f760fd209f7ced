"""A CI pipeline's shell script, as people write them for podman, run against ipy-oci.

The script is plain bash with ``set -euo pipefail``; ``podman`` in it is ipy-oci's
console script. It creates and starts containers, reads state with ``inspect -f``,
checks ``logs --tail``, waits, stops and removes with ``--filter`` and ``--cidfile``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import OciEnv

SCRIPT = r"""
set -euo pipefail
podman() { "$IPY_OCI_BIN" "$@"; }
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

# build-ish step: a worker that logs, and a service that stays up
podman create --name job1 --network none -l pipeline=ci -l step=test busybox \
    sh -c 'for i in 1 2 3 4 5; do echo "line $i"; done; exit 3' >/dev/null
podman run -d --name svc --network none -l pipeline=ci --cidfile "$workdir/svc.cid" \
    busybox sleep 1000 >/dev/null
test -s "$workdir/svc.cid"

status=$(podman inspect -f '{{.State.Status}}' job1)
[ "$status" = created ] || { echo "job1 is $status, not created"; exit 1; }
podman start job1 >/dev/null
rc=$(podman wait job1)
[ "$rc" = 3 ] || { echo "job1 exited $rc"; exit 1; }
[ "$(podman inspect --format '{{.State.ExitCode}}' job1)" = 3 ]

tail=$(podman logs --tail 2 job1)
[ "$tail" = "$(printf 'line 4\nline 5')" ] || { echo "tail: $tail"; exit 1; }

# everything of this pipeline, by label
names=$(podman ps -a --filter label=pipeline=ci --format '{{.Names}}' | sort | tr '\n' ' ')
[ "$names" = "job1 svc " ] || { echo "ps: $names"; exit 1; }
running=$(podman ps --filter label=pipeline=ci --filter status=running -q --no-trunc)
[ "$running" = "$(cat "$workdir/svc.cid")" ]
[ "$(podman inspect -f '{{index .Config.Labels "step"}}' job1)" = test ]

podman stop --cidfile "$workdir/svc.cid" -t 0 >/dev/null
[ "$(podman inspect -f '{{.State.Running}}' svc)" = false ]

# clean-up step: remove by filter, then check nothing is left
podman rm --filter label=pipeline=ci >/dev/null
[ -z "$(podman ps -a -q --filter label=pipeline=ci)" ]
podman rm nosuch 2>/dev/null && exit 1 || rc=$?
[ "$rc" = 1 ] || { echo "rm nosuch exited $rc"; exit 1; }
podman rm --ignore nosuch
echo pipeline-ok
"""


def test_ci_pipeline_script(oci: OciEnv) -> None:
    env = dict(oci.env)
    env["IPY_OCI_BIN"] = str(Path(sys.executable).with_name("ipy-oci"))
    res = subprocess.run(["bash", "-c", SCRIPT], env=env, capture_output=True, text=True,
                         timeout=300, stdin=subprocess.DEVNULL)
    assert (res.returncode, res.stdout.strip()) == (0, "pipeline-ok"), res.stderr + res.stdout

#!/bin/bash
# podman 4.3.1's own system tests (test/system/*.bats) against ipy-oci and real podman,
# each on a private root, so both run the same test image and nothing of the host's
# default podman or ipy-oci state is touched.
#
#   PODMAN_SRC=~/src/podman ./conformance/run.sh setup     # a podman checkout (any rev
#                                        # with the v4.3.1 tag), bats, the test image
#   ./conformance/run.sh ipyoci|podman [FILE.bats ...]     # default: the files below
#   ./conformance/run.sh summary         # pass counts, and what podman passes but ipy-oci fails
#   ./conformance/run.sh cleanup         # containers, images and podman's private root
#
# WORK (default /tmp/ipy-oci-conformance) holds the roots, the tests and the TAP results.
# There is no network here: the test image is a stand-in made by mkimage.py.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
W=${WORK:-/tmp/ipy-oci-conformance}
PY=${PY:-$REPO/.venv/bin/python}
FILES=(030-run.bats 035-logs.bats 040-ps.bats 045-start.bats 050-stop.bats 055-rm.bats
       075-exec.bats 080-pause.bats 130-kill.bats)
IMG=quay.io/libpod/testimage:20220615

wrappers() {
    mkdir -p "$W/ptmp" "$W/pnet"
    cat > "$W/ipyoci.sh" <<EOT
#!/bin/bash
export IPY_OCI_ROOT=$W/root IPY_OCI_RUNROOT=$W/run
exec $REPO/.venv/bin/ipy-oci "\$@"
EOT
    # podman as this VM needs it: cgroupfs, file events, vfs, runc, and rlimits it can set.
    cat > "$W/containers.conf" <<EOT
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "$W/ptmp"
[network]
network_config_dir = "$W/pnet"
EOT
    cat > "$W/podman.sh" <<EOT
#!/bin/bash
export CONTAINERS_CONF=$W/containers.conf
exec /usr/bin/podman --cgroup-manager cgroupfs --events-backend file --storage-driver vfs \\
    --runtime /usr/sbin/runc --root $W/proot --runroot $W/prun --tmpdir $W/ptmp "\$@"
EOT
    chmod +x "$W/ipyoci.sh" "$W/podman.sh"
}

case "${1:-}" in
setup)
    : "${PODMAN_SRC:?set PODMAN_SRC to a podman git checkout}"
    command -v bats >/dev/null || apt-get install -y -qq bats
    command -v podman >/dev/null || apt-get install -y -qq podman
    mkdir -p "$W" && wrappers
    rm -rf "$W/test" && git -C "$PODMAN_SRC" archive v4.3.1 test/system | tar -x -C "$W"
    "$PY" "$HERE/mkimage.py" "$W/rootfs.tar"
    "$W/ipyoci.sh" import -q -c 'WORKDIR /home/podman' \
        -c 'CMD ["/bin/echo", "This container is intended for podman CI testing"]' \
        -c 'LABEL created_by=test/system/build-testimage' \
        -c 'LABEL created_at=2022-06-15T00:00:00Z' "$W/rootfs.tar" $IMG
    rm -f "$W/testimage.tar"
    "$W/ipyoci.sh" save -o "$W/testimage.tar" $IMG
    "$W/podman.sh" load -i "$W/testimage.tar"
    ;;
ipyoci|podman)
    engine=$1; shift
    [ $# -gt 0 ] || set -- "${FILES[@]}"
    mkdir -p "$W/results/$engine"
    for f in "$@"; do
        tap="$W/results/$engine/${f%.bats}.tap"
        echo "== $engine $f"
        PODMAN=$W/$engine.sh BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-180} \
            PODMAN_TIMEOUT=${PODMAN_TIMEOUT:-60} bats --tap "$W/test/system/$f" > "$tap" 2>&1
        echo "   pass $(grep '^ok ' "$tap" | grep -vc '# skip')" \
             " fail $(grep -c '^not ok ' "$tap")  skip $(grep -c '^ok .*# skip' "$tap")"
    done
    ;;
summary)
    passed() { grep '^ok ' "$W/results/$1/$2" 2>/dev/null | grep -v '# skip' |
               sed 's/^ok [0-9]* //' | sort; }
    for f in "${FILES[@]}"; do
        t=${f%.bats}.tap
        pp=$(passed podman "$t"); ip=$(passed ipyoci "$t")
        echo "$f: podman $(grep -c . <<<"$pp")  ipy-oci $(grep -c . <<<"$ip")" \
             "(of podman's: $(comm -12 <(echo "$pp") <(echo "$ip") | grep -c .))"
        comm -23 <(echo "$pp") <(echo "$ip") | sed 's/^/    FAIL: /'
    done
    ;;
cleanup)
    "$W/ipyoci.sh" rm -af -t 0
    "$W/podman.sh" rm -af -t 0
    "$W/podman.sh" system reset -f
    "$W/ipyoci.sh" rmi -af 2>/dev/null
    mount | grep "$W" || echo "no mounts left under $W"
    ;;
*) sed -n 2,14p "$0" ;;
esac

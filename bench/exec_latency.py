"""Exec latency, figures 1 and 2 of issue 10, on one running container ``C``.

1. **In a warm kernel**: a real IPython kernel (jupyter_client, ``%load_ext
   ipy_oci``) runs ``%oci run -d --name C busybox sleep 1000``; then, timed with
   ``time.perf_counter`` inside the kernel, rounds of ``%%oci exec C`` with the cell
   body ``true`` (``get_ipython().run_cell_magic('oci', 'exec C', 'true')``) and raw
   ``runc --root RUNROOT/runc exec ID true`` through ``subprocess.run``, interleaved.
   A third row times the engine call alone (``Runtime.exec``, as the magic makes it)
   to split the magic's own cost from the engine's. Target: cell ÷ runc ≤ 1.3×.
2. **As whole processes** (fork + exec of the command, as a user runs it): ``ipy-oci
   exec C true`` against ``podman exec C true`` (podman's own ``C``, same image), with
   the raw ``runc exec`` process as the floor. The kernel is shut down first (``C``
   stays): no other ipy-oci process holds the state DB open, as for a user at a
   shell. Target: ipy-oci ≥ 3× faster.

Samples are interleaved, one of each per round in rotated order; medians; ratios
from this one run. ``--json FILE`` keeps the raw samples (run_all's plot);
``--profile N`` also prints a cProfile of N ``%%oci exec`` cells taken in the kernel.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import (
    CTR,
    PODMAN_RUN_FLAGS,
    RUNC,
    Bench,
    interleave,
    median,
    paired_ratio,
    run_quiet,
    step,
    summary,
    table,
)

HERE = Path(__file__).resolve().parent

# Runs in the kernel: the samples travel back as one JSON line.
KERNEL_SAMPLES = """
import json as _json, subprocess as _sp, sys as _sys
_sys.path.insert(0, {here!r})
from common import interleave as _interleave
_ip = get_ipython()
_runc = {runc!r}

def _cell():
    _ip.run_cell_magic("oci", "exec {ctr}", "true")

def _raw():
    _sp.run(_runc, stdin=_sp.DEVNULL, stdout=_sp.DEVNULL, stderr=_sp.DEVNULL, check=True)

_contenders = {{"%%oci exec {ctr} (cell body true)": _cell, "raw runc exec": _raw}}
try:  # the engine call alone; a breakdown row, skipped if the engine API moved
    from ipy_oci.kernel.context import get_context as _gc
    _rt = _gc().runtime

    def _engine():
        res = _rt.exec("{ctr}", ["sh", "-c", "true"], on_output=lambda s, d: None)
        assert res.exit_code == 0, res

    _engine()
    _contenders["engine Runtime.exec (breakdown)"] = _engine
except Exception as _exc:
    print("engine row skipped:", _exc, file=_sys.stderr)
print(_json.dumps(_interleave(_contenders, {rounds}, {warmup})))
"""

KERNEL_PROFILE = """
import cProfile as _cp, pstats as _ps, io as _io
_ip = get_ipython()
_prof = _cp.Profile()
_prof.enable()
for _ in range({n}):
    _ip.run_cell_magic("oci", "exec {ctr}", "true")
_prof.disable()
_buf = _io.StringIO()
_st = _ps.Stats(_prof, stream=_buf)
_st.sort_stats("tottime").print_stats(25)
_st.sort_stats("cumulative").print_stats(40)
print(_buf.getvalue())
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", default=None, help="write the raw samples here")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also cProfile N %%oci exec cells in the kernel")
    args = ap.parse_args()
    with Bench() as b:
        with step("kernel and container"):
            k = b.kernel()
            k.run(f"%oci run -d --name {CTR} busybox sleep 1000")
            cid = b.container_id(CTR)
        with step("podman container (same image)"):
            image = b.podman_busybox()
            b.pod("run", "-d", "--name", CTR, *PODMAN_RUN_FLAGS, image, "sleep", "1000")
        runc = [RUNC, "--root", str(b.runc_root), "exec", cid, "true"]

        with step(f"figure 1: {args.rounds} rounds in the kernel"):
            warm: dict[str, list[float]] = k.value(KERNEL_SAMPLES.format(
                here=str(HERE), runc=runc, ctr=CTR, rounds=args.rounds, warmup=args.warmup))
        cell_name, raw_name = list(warm)[:2]
        prof = ""
        if args.profile:
            prof = k.run(KERNEL_PROFILE.format(n=args.profile, ctr=CTR))
        # A live kernel keeps the state DB open, which spares every CLI process the
        # WAL file's creation and removal (fsyncs): figure 2 is a user at a shell
        # with no other ipy-oci process, the conservative case.
        b.close_kernel()

        with step(f"figure 2: {args.rounds} rounds of whole processes"):
            procs = interleave({
                "raw runc exec": lambda: run_quiet(runc),
                "ipy-oci exec C true": lambda: run_quiet(b.cli("exec", CTR, "true"), b.env),
                "podman exec C true": lambda: b.pod("exec", CTR, "true"),
            }, args.rounds, args.warmup)

        print(table(f"1. exec true in a warm kernel ({args.rounds} rounds, interleaved, "
                    "timed in the kernel)", warm, raw_name))
        cell, raw = median(warm[cell_name]), median(warm[raw_name])
        print(f"cell ÷ runc: {cell / raw:.2f}× (median of per-round ratios "
              f"{paired_ratio(warm[cell_name], warm[raw_name]):.2f}×)\n")
        print(table(f"2. exec true as whole processes ({args.rounds} rounds, interleaved)",
                    procs, "raw runc exec", "podman exec C true"))
        ours, pod = median(procs["ipy-oci exec C true"]), median(procs["podman exec C true"])
        print(f"podman ÷ ipy-oci: {pod / ours:.2f}× (median of per-round ratios "
              f"{paired_ratio(procs['podman exec C true'], procs['ipy-oci exec C true']):.2f}"
              "×)\n")
        summary("`%%oci exec C` (body `true`) in a warm kernel vs raw `runc exec` there",
                f"{cell:.1f} ms", "", f"{raw:.1f} ms (runc exec)", f"{cell / raw:.2f}×",
                "≤ 1.3×", cell / raw <= 1.3, figure=1)
        summary("`ipy-oci exec C true` vs `podman exec C true` (processes)", f"{ours:.1f} ms",
                f"{pod:.1f} ms", f"{median(procs['raw runc exec']):.1f} ms (runc exec)",
                f"{pod / ours:.2f}× faster", "≥ 3× faster", pod / ours >= 3, figure=2)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({**{f"kernel: {n}": v for n, v in warm.items()},
                           **{f"process: {n}": v for n, v in procs.items()}}, fh)
        if args.profile:
            print(f"### cProfile of {args.profile} `%%oci exec {CTR}` cells in the kernel\n")
            print("```\n" + prof + "```")
    return 0


if __name__ == "__main__":
    sys.exit(main())

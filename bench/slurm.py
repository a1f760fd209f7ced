"""The Slurm backend (issue 16, docs/SCALE.md) against its parts, on a throwaway
three-node cluster of this machine (tests/slurm_cluster.py), all in one run:

(a) ``ipy-oci run --rm --slurm --network none busybox true`` against what it is made
    of: ``srun true`` (a fresh allocation) plus a local ``ipy-oci run --rm --network
    none busybox true``; interleaved round by round;
(b) ``ipy-oci exec C true`` on a Slurm container against the same on a local one,
    with a bare ``srun --jobid J --overlap true`` step as the floor;
(c) 30 containers submitted at once (``run -d --slurm`` from 30 parallel processes,
    10 pinned to each node): time until all run, errors, then ``rm -f`` of all.

Skipped (exit 0) without Slurm's and munge's programs. The cluster, every job and
container, and both temporary directories are removed, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    Bench,
    interleave,
    median,
    paired_ratio,
    run_quiet,
    step,
    summary,
    table,
)

sys.path.insert(0, str(ROOT / "tests"))
from slurm_cluster import SlurmCluster, missing_binaries  # noqa: E402

# The test cluster gives each node 4 CPUs: 12 one-CPU jobs at once. The batch figure
# needs 30 holders running together, so this one claims more (config_overrides lets
# slurmd accept it).
NODE_CPUS = 12


class BenchCluster(SlurmCluster):
    def _write_conf(self) -> None:
        super()._write_conf()
        text = self.conf.read_text().replace(" CPUs=4 ", f" CPUs={NODE_CPUS} ")
        self.conf.write_text(text)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    t = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    return (time.perf_counter() - t) * 1000.0, p.returncode, p.stderr.decode(errors="replace")


def parallel(argvs: list[list[str]], env: dict[str, str]) -> tuple[float, list[int], list[str]]:
    """Start every command at once; seconds until the last one exits, rcs, stderrs."""
    t = time.perf_counter()
    procs = [subprocess.Popen(a, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for a in argvs]
    errs = [p.communicate()[1].decode(errors="replace").strip() for p in procs]
    return time.perf_counter() - t, [p.returncode for p in procs], errs


def run_figures(b: Bench, cluster: SlurmCluster, rounds: int, warmup: int,
                batch: int, batch_rounds: int) -> None:
    srun = shutil.which("srun") or "srun"
    none = ["--network", "none"]

    # (a) a whole run --rm, on a node and here
    slurm_run, srun_name, local_run = ("`run --rm --slurm`", "`srun true`",
                                       "local `run --rm`")
    with step(f"(a) run --rm: {rounds} rounds"):
        a = interleave({
            slurm_run: lambda: b.ours("run", "--rm", "--slurm", *none, "busybox", "true"),
            srun_name: lambda: run_quiet([srun, "--quiet", "true"], b.env),
            local_run: lambda: b.ours("run", "--rm", *none, "busybox", "true"),
        }, rounds, warmup)
    parts = [x + y for x, y in zip(a[srun_name], a[local_run], strict=True)]
    a["srun + local (per round)"] = parts
    print(table(f"(a) run --rm --network none busybox true ({rounds} rounds)", a, local_run))
    ratio_a = median(a[slurm_run]) / (median(a[srun_name]) + median(a[local_run]))
    print(f"slurm ÷ (srun + local): {ratio_a:.2f}× (median of per-round ratios "
          f"{paired_ratio(a[slurm_run], parts):.2f}×)\n")

    # (b) exec in a running container, on a node and here
    b.ours("run", "-d", "--slurm", "--name", "S", *none, "busybox", "sleep", "100000")
    b.ours("run", "-d", "--name", "L", *none, "busybox", "sleep", "100000")
    job, node = b.ours("inspect", "-f", "{{.Slurm.JobId}} {{.Slurm.Node}}", "S").split()
    slurm_exec, local_exec, bare = ("`exec S true` (Slurm)", "`exec L true` (local)",
                                    "`srun --jobid J --overlap true`")
    with step(f"(b) exec: {rounds} rounds"):
        e = interleave({
            slurm_exec: lambda: b.ours("exec", "S", "true"),
            local_exec: lambda: b.ours("exec", "L", "true"),
            bare: lambda: run_quiet([srun, "--jobid", job, "--overlap", "-w", node,
                                     "--quiet", "true"], b.env),
        }, rounds, warmup)
    print(table(f"(b) exec C true ({rounds} rounds)", e, local_exec))
    ratio_b = median(e[slurm_exec]) / median(e[local_exec])
    print(f"slurm ÷ local: {ratio_b:.2f}× (median of per-round ratios "
          f"{paired_ratio(e[slurm_exec], e[local_exec]):.2f}×)\n")
    b.ours("rm", "-f", "-t", "0", "S", "L")

    # (c) many at once
    up_s, rm_s, errors, spread = [], [], [], ""
    for r in range(batch_rounds):
        names = [f"p{r}-{i}" for i in range(batch)]
        nodes = [cluster.nodes[i % len(cluster.nodes)] for i in range(batch)]
        with step(f"(c) {batch} × run -d --slurm, round {r + 1}"):
            secs, rcs, errs = parallel(
                [b.cli("run", "-d", "--slurm", f"--slurm-opt=--nodelist={n}", "--name", name,
                       *none, "busybox", "sleep", "100000")
                 for name, n in zip(names, nodes, strict=True)], b.env)
        ps = b.ours("ps", "--format", "{{.Names}} {{.Status}}").splitlines()
        running = {ln.split()[0] for ln in ps if " Up " in f" {ln} "}
        bad = [f"{n}: rc {rc}: {err.splitlines()[-1] if err else ''}"
               for n, rc, err in zip(names, rcs, errs, strict=True)
               if rc != 0 or n not in running]
        for line in bad:
            print(f"  error: {line}", file=sys.stderr)
        on = [b.ours("inspect", "-f", "{{.Slurm.Node}}", n).strip() for n in names
              if n in running]
        spread = " / ".join(f"{on.count(n)}" for n in cluster.nodes)
        up_s.append(secs)
        errors.append(len(bad))
        with step(f"(c) rm -f of {batch}, round {r + 1}"):
            rsecs, rrcs, rerrs = parallel([b.cli("rm", "-f", "-t", "0", n) for n in names],
                                          b.env)
        rm_s.append(rsecs)
        errors[-1] += sum(1 for rc in rrcs if rc != 0)
        for rc, err in zip(rrcs, rerrs, strict=True):
            if rc != 0:
                print(f"  rm error: rc {rc}: {err}", file=sys.stderr)
    left = cluster.jobs()
    print(f"### (c) {batch} × `run -d --slurm` from {batch} parallel processes "
          f"({batch_rounds} rounds)\n")
    print("| what | median s | all rounds s |")
    print("|---|---:|---|")
    print(f"| all {batch} running (per node {spread}) | {median(up_s):.1f} | "
          + ", ".join(f"{x:.1f}" for x in up_s) + " |")
    print(f"| `rm -f -t 0` of all {batch} ({batch} parallel processes) | {median(rm_s):.1f} "
          "| " + ", ".join(f"{x:.1f}" for x in rm_s) + " |")
    print(f"| errors (run, not running, or rm) | {sum(errors)} | "
          + ", ".join(str(x) for x in errors) + " |")
    print(f"\njobs left in the queue afterwards: {left or 'none'}\n")

    summary("`run --rm --slurm busybox true` vs `srun true` + local `run --rm`",
            f"{median(a[slurm_run]):.0f} ms", "",
            f"{median(a[srun_name]):.0f} + {median(a[local_run]):.0f} ms",
            f"{ratio_a:.2f}×", "", None)
    summary("`exec C true` on a Slurm container vs a local one", f"{median(e[slurm_exec]):.0f} ms",
            "", f"{median(e[local_exec]):.0f} ms (local)", f"{ratio_b:.2f}×", "", None)
    summary(f"{batch} × `run -d --slurm` at once on 3 nodes: until all run",
            f"{median(up_s):.1f} s, {sum(errors)} errors", "", "", "", "0 errors",
            sum(errors) == 0 and not left)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=30, help="containers submitted at once")
    ap.add_argument("--batch-rounds", type=int, default=3)
    args = ap.parse_args()
    missing = missing_binaries()
    if missing:
        print(f"bench/slurm.py: skipped, needs apt-get install slurm-wlm munge "
              f"(missing: {', '.join(missing)})")
        return 0
    with Bench() as b:
        cbase = Path(tempfile.mkdtemp(prefix="ioci-bench-slurm-", dir="/tmp"))
        cluster: SlurmCluster | None = None
        try:
            with step("Slurm cluster (3 nodes)"):
                cluster = BenchCluster.start(cbase)
            # Slurm's clients find this cluster only; a caller's own job must not leak in.
            for k in [k for k in b.env if k.startswith("SLURM_")]:
                del b.env[k]
            b.env.update(cluster.env)
            b.env["PATH"] = b.env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
            run_figures(b, cluster, args.rounds, args.warmup, args.batch, args.batch_rounds)
        finally:
            if cluster is not None:
                # While the cluster still answers: every container, then every job.
                try:
                    subprocess.run(b.cli("rm", "-af", "-t", "0"), env=b.env,
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
                except subprocess.TimeoutExpired:
                    pass  # the cluster's stop cancels the jobs all the same
                problems = cluster.stop()
                if problems:
                    print(f"bench: slurm cluster stop: {problems}", file=sys.stderr)
            # The cluster is gone: Bench's own clean-up must not wait on its clients.
            b.env["SLURM_CONF"] = str(cbase / "gone.conf")
            shutil.rmtree(cbase, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

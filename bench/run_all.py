"""``make bench``: every benchmark side by side with podman, then one summary table.

Each script prints its own detailed table; the summary collects one row per
metric with its peer (podman, or raw runc where that is the yardstick), the
target and whether this run met it. The four speed figures of issue 10 come
first, numbered: (1) ``%%oci exec`` in a warm kernel vs raw ``runc exec``,
(2) ``ipy-oci exec`` vs ``podman exec``, (3) ``ipy-oci run --rm`` vs ``podman run
--rm``, (4) ``ipy-oci ps -a`` with 1,000 containers. ``--only exec_latency.py,...``
runs some scripts; ``--plot FILE`` draws the exec latency distributions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

SUITE = [
    ("exec_latency.py", ["--rounds", "40"]),
    ("run_latency.py", ["--rounds", "20", "--bridge"]),
    ("concurrency.py", ["--procs", "8", "--execs", "50"]),
    ("throughput.py", ["--size", str(1 << 30)]),
    ("memory.py", ["--sessions", "10"]),
    ("ps_scaling.py", ["--sizes", "10,100,1000", "--rounds", "5"]),
    ("slurm.py", ["--rounds", "10", "--batch", "30", "--batch-rounds", "3"]),
]


def plot(samples_file: str, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(samples_file) as fh:
        samples: dict[str, list[float]] = json.load(fh)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = list(samples)
    ax.boxplot([samples[n] for n in names], orientation="horizontal", showfliers=True)
    ax.set_yticks(range(1, len(names) + 1), names)
    ax.set_xlabel("exec true latency (ms)")
    ax.set_title("exec latency, interleaved samples, one run")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plot", default=None, help="write the exec latency plot (PNG)")
    ap.add_argument("--only", default=None, help="comma-separated script names")
    args = ap.parse_args()
    fd, summary_file = tempfile.mkstemp(prefix="ioci-bench-", suffix=".jsonl")
    os.close(fd)
    samples_file = summary_file + ".samples.json"
    env = dict(os.environ, IPY_OCI_BENCH_SUMMARY=summary_file)
    only = set(args.only.split(",")) if args.only else None
    failed: list[str] = []
    try:
        for script, extra in SUITE:
            if only and script not in only:
                continue
            if script == "exec_latency.py":
                extra = [*extra, "--json", samples_file]
            sys.stdout.flush()
            rc = subprocess.run([sys.executable, str(HERE / script), *extra], env=env).returncode
            if rc != 0:
                failed.append(script)
                print(f"\n{script} failed with exit code {rc}\n")
            print()
        rows = [json.loads(line) for line in Path(summary_file).read_text().splitlines()]
        # The figures first, in their order; the rest as the suite ran.
        rows.sort(key=lambda r: (r.get("figure") is None, r.get("figure") or 0))
        print("## Summary (medians; ratios from this one run)\n")
        print("| # | metric | ipy-oci | podman 4.3 | baseline | ratio | target | met |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
            print(f"| {r.get('figure') or ''} | {r['metric']} | {r['ipy-oci']} | "
                  f"{r['podman']} | {r['baseline']} | {r['ratio']} | {r['target']} | {met} |")
        if args.plot and Path(samples_file).exists():
            plot(samples_file, args.plot)
            print(f"\nplot: {args.plot}")
        if failed:
            print(f"\nfailed: {', '.join(failed)}")
    finally:
        for f in (summary_file, samples_file):
            Path(f).unlink(missing_ok=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

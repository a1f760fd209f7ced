"""A throwaway three-node Slurm cluster for the Slurm tests (tests/slurm_cluster.py).

``slurm_cluster`` is session-scoped: one munged, slurmctld and three slurmd under a
fresh /tmp/islurm-* directory, started (and warmed up: one job has run) before the
first test, with ``SLURM_CONF`` set in os.environ for the session, so plain
``subprocess.run(["sbatch", ...])`` reaches it. At the end it is stopped, every
daemon is seen to exit and the directory is removed; a process left behind fails
the session.

After every test (``no_jobs_left``) squeue must list no job of the cluster but ones
already completing (cancelled by the test); any other is cancelled and fails the
test by name. Skipped, with the reason, when the Slurm or munge programs are absent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slurm_cluster import SlurmCluster


@pytest.fixture(autouse=True)
def no_jobs_left(slurm_cluster: SlurmCluster) -> Iterator[None]:
    yield
    left = {j: s for j, s in slurm_cluster.job_states().items() if s != "COMPLETING"}
    # Also waits for the completing ones, so the next test starts with an empty queue.
    slurm_cluster.cancel_all()
    if left:
        pytest.fail(f"test left Slurm jobs: {left}")

"""The Slurm driver: Slurm's own command-line tools, run and parsed here.

PySlurm has no release for Slurm 22.05, and ``squeue --json`` ignores its filters,
so the tools' plain output is the interface (docs/SLURM.md section 5).
"""

from .cli import (
                  ENDED_STATES,
                  JobInfo,
                  SlurmError,
                  cancel,
                  job_states,
    kill_wait,
                  show_job,
                  srun_step,
                  srun_tool,
                  steps,
                  submit,
)

__all__ = ["ENDED_STATES", "JobInfo", "SlurmError", "cancel", "job_states", "kill_wait", "show_job",
           "srun_step", "srun_tool", "steps", "submit"]

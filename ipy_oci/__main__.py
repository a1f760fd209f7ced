"""``python -m ipy_oci``: the CLI (also what conmon's exit commands run)."""

from .cli.main import run

run()

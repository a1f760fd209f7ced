"""ipy-oci: containers from Jupyter, on a daemonless libpod-shaped runtime."""

__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext ipy_oci``: register the ``%oci`` / ``%%oci`` magics."""
    from .kernel.magics import load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    from .kernel.magics import unload

    unload(ipython)

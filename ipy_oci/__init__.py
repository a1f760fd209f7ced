"""ipy-oci: containers from Jupyter, on a daemonless libpod-shaped runtime."""

__version__ = "0.1.0"

"""The IPython front end: ``%oci`` magics, live widgets and the kernel's reaper hooks.

It talks to the engine (``ipy_oci.engine``) only, and parses the grammar the CLI
parses too (``ipy_oci.grammar``); it imports nothing of the CLI or the server.
"""

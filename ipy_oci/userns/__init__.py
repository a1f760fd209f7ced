"""Rootless mode: the user namespace a normal user's containers live in.

- ``subids``: the user's subordinate id ranges (/etc/subuid, /etc/subgid).
- ``holder``: the process that keeps the namespace alive (podman's pause process),
  found, spawned, re-adopted and stopped under a lock in the runroot.
- ``enter``: getting work into the namespace: the single-threaded CLI joins it,
  threaded processes (a kernel, the Jupyter server) prefix subprocesses with nsenter
  and run filesystem work in a forked child (``in_userns``).
"""

"""One error hierarchy for every layer.

Each error names the object, its state and what to do next. Front ends map
``exit_code`` to a process exit status (podman's convention: 125 engine error,
126 cannot invoke, 127 not found).
"""

from __future__ import annotations


class OciError(Exception):
    """Base of every ipy-oci error; ``exit_code`` is what the CLI exits with."""

    exit_code = 125


class ConfigError(OciError):
    """Bad configuration or flags."""


class UsageError(OciError):
    """A malformed command line or argument."""


class NotFoundError(OciError):
    """A named object does not exist."""


class NoSuchContainer(NotFoundError):
    def __init__(self, ref: str) -> None:
        # podman's words exactly: scripts match "no such container".
        quoted = '"' + ref.replace("\\", "\\\\").replace('"', '\\"') + '"'
        super().__init__(f"no container with name or ID {quoted} found: no such container")
        self.ref = ref


class NoSuchImage(NotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__(
            f"image {ref!r} not known: list local images with 'ipy-oci images' "
            "(the built-in image 'busybox' always works offline)"
        )
        self.ref = ref


class NoSuchExecSession(NotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no exec session with ID {ref!r} found: it may have been removed")
        self.ref = ref


class AmbiguousRef(OciError):
    def __init__(self, kind: str, ref: str, count: int) -> None:
        super().__init__(
            f"{count} {kind}s match the prefix {ref!r}: give more characters of the ID"
        )


class NameInUse(OciError):
    def __init__(self, name: str, owner_id: str) -> None:
        super().__init__(
            f"the container name {name!r} is already in use by {owner_id[:12]}: "
            "remove that container or choose another name"
        )


class InvalidState(OciError):
    """An operation is not allowed in the object's current state."""


class NoSuchVolume(NotFoundError):
    def __init__(self, name: str) -> None:
        # podman's words exactly (its tests compare them); 'volume ls' lists the names.
        super().__init__(f'no volume with name "{name}" found: no such volume')
        self.ref = name


class VolumeInUse(InvalidState):
    """podman exits 2 when a volume to remove is used by containers."""

    exit_code = 2


class RuntimeMissing(OciError):
    """A required binary (runc, crun, conmon, catatonit ...) is not installed."""

    exit_code = 125


class RuntimeFailure(OciError):
    """The OCI runtime or conmon failed; the message carries their stderr."""


class CommandNotFound(OciError):
    exit_code = 127


class CommandNotExecutable(OciError):
    exit_code = 126


class Unsupported(OciError):
    """A feature this host or runtime cannot do (e.g. checkpoint without CRIU)."""


class ImageError(OciError):
    """A bad, corrupt or hostile image or layer."""


class SizeLimitExceeded(ImageError):
    """A layer or image expands beyond the configured cap (``max_layer_size``,
    ``max_image_size``); the message names the layer, the cap and how to raise it."""


class StorageError(OciError):
    """The filesystem under the storage root refused an operation."""


class StorageFull(StorageError):
    """No space (or no inodes) left, or less than the configured margin."""


class RemoveError(StorageError):
    """A tree could not be removed completely; the message names what stayed and why."""


class StateDBError(OciError):
    """The SQLite state database failed: the message names the file and what to do."""


class StateDiskFull(StateDBError):
    """The state database could not grow: its filesystem is full."""


class ExecError(OciError):
    """A command inside a container exited non-zero (used by the magics)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

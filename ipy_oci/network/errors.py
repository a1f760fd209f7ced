"""The network driver's errors: subclasses of the shared hierarchy (ipy_oci/errors.py).

Messages follow podman's wording where podman has one (quoted in each class), and
say what to do next. Every one exits 125 but ``NetworkInUse`` (2, as ``podman
network rm`` exits for a network in use).
"""

from __future__ import annotations

from ..errors import ConfigError, NotFoundError, OciError, RuntimeFailure, UsageError


class NoSuchNetwork(NotFoundError):
    # podman: "unable to find network with name or ID X: network not found"
    def __init__(self, ref: str) -> None:
        super().__init__(f"unable to find network with name or ID {ref}: network not found "
                         "(list networks with 'ipy-oci network ls')")
        self.ref = ref


class NetworkExists(OciError):
    # podman: "network name X already used: network already exists"
    def __init__(self, name: str) -> None:
        super().__init__(f"network name {name} already used: network already exists")
        self.name = name


class NetworkInUse(OciError):
    # podman: '"X" has associated containers with it. Use -f to forcibly delete
    # containers and pods: network is being used'
    exit_code = 2

    def __init__(self, name: str, containers: list[str] | None = None) -> None:
        super().__init__(f'"{name}" has associated containers with it. Use -f to forcibly '
                         "delete containers and pods: network is being used")
        self.name = name
        self.containers = list(containers or [])


class InvalidNetwork(ConfigError):
    """A network setting that cannot work: bad name, subnet, gateway, option, driver."""


class SubnetInUse(InvalidNetwork):
    """A subnet overlaps another network's or one on the host (podman: "subnet X is
    already used on the host or by another config")."""


class AddressInUse(OciError):
    """A static IP another container holds, or a network with no address left."""


class NetworkSetupError(RuntimeFailure):
    """netavark (or the netns machinery) failed; the message carries its error."""


class PortError(UsageError):
    """A malformed -p/--publish or --expose value; the message names the value."""


class PortInUse(OciError):
    """A host port another process (or another container) already uses."""

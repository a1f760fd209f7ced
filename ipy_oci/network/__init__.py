"""The network driver: network namespaces, netavark, aardvark-dns, networks as objects,
IPAM, published ports, and the text of /etc/hosts and /etc/resolv.conf.

A driver below the engine (it imports config, errors and state only). The engine
holds one ``NetworkDriver`` per runtime and calls, per container:

- create:  ``driver.networks.connect(ctr_id, net, aliases=..., static_ip=..., static_mac=...)``
           for each requested network (``DEFAULT_NETWORK`` for the default bridge);
           ``ports.resolve(ports.parse_publishes(specs), exposed, publish_all)`` once,
           stored with the container;
- init:    ``setup = driver.setup(ctr_id, name, ports=..., dns_servers=...)``, then
           ``setup.spec_network`` into the spec, ``etc_files.hosts_text`` and
           ``etc_files.resolv_conf_text`` from ``setup``;
- stop/exit cleanup, init rollback: ``driver.teardown(ctr_id)`` (idempotent);
- remove:  ``driver.forget(ctr_id)`` (teardown, then the connections are dropped);
- startup / ``system reap``: ``driver.recover(keep=ids of containers whose network may
  be set up)``.

- inspect: ``inspect.network_settings(driver.networks.attachments(ctr_id), ...)`` with
           the status of ``driver.status(ctr_id)`` (None when not set up).

Modules: netns (namespaces under ``<runroot>/netns``), netavark (running it), aardvark
(its files and process), networks (objects and connections), subnets (pools and
overlap), ipam (addresses), ports, status (netavark's results), etc_files (/etc/hosts,
resolv.conf), inspect (podman's NetworkSettings), driver (setup/teardown/recover).
"""

from __future__ import annotations

from .driver import NetworkDriver, NetworkSetup
from .errors import (
    AddressInUse,
    InvalidNetwork,
    NetworkExists,
    NetworkInUse,
    NetworkSetupError,
    NoSuchNetwork,
    PortError,
    PortInUse,
    SubnetInUse,
)
from .networks import (
    DEFAULT_INTERFACE,
    DEFAULT_NETWORK,
    DEFAULT_NETWORK_ID,
    Attachment,
    Network,
    Networks,
    Subnet,
)
from .ports import PortMapping
from .status import NetAddress, NetInterface, StatusBlock
from .subnets import DEFAULT_SUBNET

__all__ = [
    "DEFAULT_INTERFACE", "DEFAULT_NETWORK", "DEFAULT_NETWORK_ID", "DEFAULT_SUBNET",
    "AddressInUse", "Attachment", "InvalidNetwork", "NetAddress", "NetInterface", "Network",
    "NetworkDriver", "NetworkExists", "NetworkInUse", "NetworkSetup", "NetworkSetupError",
    "Networks", "NoSuchNetwork", "PortError", "PortInUse", "PortMapping", "StatusBlock",
    "Subnet", "SubnetInUse",
]

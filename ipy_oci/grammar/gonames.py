"""podman's JSON under its Go field names, for ``--format`` templates.

Some podman objects print JSON with json tags (``info``: ``host.ociRuntime.name``;
``network inspect``: ``network_interface``) while templates name the Go fields
(``{{.Host.OCIRuntime.Name}}``, ``{{.NetworkInterface}}``). ``go_view(data)``
renames the keys of such JSON to the Go names: each word capitalized, Go's
initialisms upper-cased (``id`` -> ``ID``, ``oci`` -> ``OCI``, ``dns`` ->
``DNS``), and podman's few irregular names from a table. Maps (labels, options
...) keep their keys; their values are converted and they become ``GoMap``\\ s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .gotemplate import GoMap

# Go's initialisms as podman's structs spell them.
_WORDS = {"id": "ID", "ip": "IP", "dns": "DNS", "ipam": "IPAM", "oci": "OCI", "cpu": "CPU",
          "cpus": "CPUs", "uid": "UID", "gid": "GID", "mac": "MAC", "api": "API",
          "ipv6": "IPv6", "os": "OS", "url": "URL"}
# Where the Go name is not the json tag's words (define.Info and friends).
_IRREGULAR = {"cgroupVersion": "CgroupsVersion", "capabilities": "DefaultCapabilities",
              "apparmorEnabled": "AppArmorEnabled", "seccompEnabled": "SECCOMPEnabled",
              "seccompProfilePath": "SECCOMPProfilePath", "selinuxEnabled": "SELinuxEnabled",
              "slirp4netns": "Slirp4NetNS", "gidmap": "GIDMap", "uidmap": "UIDMap"}
# json keys whose values are Go maps (their keys are data, not field names).
MAP_KEYS = frozenset({"labels", "options", "ipam_options", "registries", "graphOptions",
                      "graphStatus", "containers", "Labels", "Options", "Status"})
_SPLIT = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def go_name(key: str) -> str:
    """The Go field name of a json tag: ``ociRuntime`` -> ``OCIRuntime``."""
    if key in _IRREGULAR:
        return _IRREGULAR[key]
    if key[:1].isupper():
        return key  # already a Go name (define.Version's JSON has no tags)
    words = [w for part in key.split("_") for w in _SPLIT.findall(part)]
    return "".join(_WORDS.get(w.lower(), w[:1].upper() + w[1:]) for w in words) or key


def go_view(data: Any, irregular: Mapping[str, str] | None = None) -> Any:
    """``data`` (podman's JSON) with Go field names, for templates."""
    if isinstance(data, list):
        return [go_view(v, irregular) for v in data]
    if not isinstance(data, Mapping):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = (irregular or {}).get(key) or go_name(str(key))
        if key in MAP_KEYS and isinstance(value, Mapping):
            out[name] = GoMap({k: go_view(v, irregular) for k, v in value.items()})
        else:
            out[name] = go_view(value, irregular)
    return out

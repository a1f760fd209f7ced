"""Which containers a command acts on: podman's container filters and target selection.

One shape for every front end and command:

- ``container_filter(["status=exited", "label=a"])``: a predicate on containers.
  Filters are podman's ``KEY=VALUE``: a key given several times matches any of its
  values (``label`` all of them, as podman), different keys must all match.
- ``list_containers``: what ``ps`` shows (running only unless ``--all``, a
  ``status`` filter, ``--last`` or ``--latest``), oldest first; ``sort_containers``
  applies ``ps --sort``.
- ``select_targets``: the containers a lifecycle verb (start, stop, rm ...) acts on,
  from names, ``--all``, ``--latest``, ``--cidfile`` and ``--filter``, with podman's
  rules and messages; ``apply`` runs an action on each and reports every outcome.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidState, NoSuchContainer, NotFoundError, OciError, UsageError
from ..state.records import State

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime

Predicate = Callable[["Container"], bool]

# key -> what it matches (the error for an unknown key lists these).
FILTER_KEYS: dict[str, str] = {
    "ancestor": "image name or ID the container was created from",
    "before": "containers created before this container (name or ID)",
    "command": "regex on the first word of the command",
    "exited": "exit code of an exited container",
    "id": "ID prefix",
    "label": "label KEY or KEY=VALUE",
    "label!": "no label KEY or KEY=VALUE",
    "name": "regex on the name",
    "network": "network name or ID the container is connected to",
    "restart-policy": "--restart policy: none, no, on-failure, always, unless-stopped",
    "since": "containers created after this container (name or ID)",
    "status": "created, exited, initialized, paused, running, stopping, stopped, ...",
    "until": "containers created before a time (duration, Unix time or RFC 3339)",
    "volume": "mount source or destination, or named volume (SRC[:DEST])",
}

# podman's container state words; "stopped" means "exited" (podman's rule).
STATUS_WORDS = ("created", "exited", "initialized", "paused", "removing", "running",
                "stopped", "stopping", "unknown")

SORT_KEYS = ("command", "created", "id", "image", "names", "runningfor", "size", "status")


class NoLatestContainer(NoSuchContainer):
    """``--latest`` with no container at all."""

    def __init__(self) -> None:
        NotFoundError.__init__(self, "no container to act on: --latest found no "
                                     "containers (see 'ipy-oci ps -a')")
        self.ref = ""


# -- filters ----------------------------------------------------------------------------------


def parse_filters(values: Iterable[str]) -> dict[str, list[str]]:
    """``["status=exited", "label=a=b"]`` -> ``{"status": ["exited"], "label": ["a=b"]}``."""
    out: dict[str, list[str]] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"invalid filter {_q(item)}: use KEY=VALUE with KEY one of "
                             f"{_keys()}")
        if key not in FILTER_KEYS:
            raise UsageError(f"invalid filter {_q(item)}: {key!r} is not a container filter; "
                             f"valid filters are {_keys()}")
        out.setdefault(key, []).append(value)
    return out


def container_filter(filters: list[str], rt: Runtime | None = None) -> Callable[[Container], bool]:
    """A predicate matching podman's ``--filter`` values (UsageError for bad ones).

    ``rt`` resolves ``before``/``since`` containers and ``network`` names now (so an
    unknown one is an error at once); without it they are resolved on first use
    from the container's runtime.
    """
    parsed = parse_filters(filters)
    preds = [_predicate(key, values, rt) for key, values in parsed.items()]
    if not preds:
        return lambda ctr: True
    return lambda ctr: all(p(ctr) for p in preds)


def status_word(ctr: Container) -> str:
    """The container's state in podman's words (what ``status=`` compares)."""
    return State.display(ctr.state)


def _predicate(key: str, values: list[str], rt: Runtime | None) -> Predicate:
    build = _BUILDERS[key]
    if rt is not None or key not in _NEEDS_RUNTIME:
        return build(values, rt)
    built: list[Predicate] = []

    def lazy(ctr: Container) -> bool:
        if not built:
            built.append(build(values, ctr.runtime))
        return built[0](ctr)

    return lazy


def _f_id(values: list[str], rt: Runtime | None) -> Predicate:
    return lambda ctr: any(ctr.id.startswith(v) for v in values)


def _regexes(key: str, values: list[str]) -> list[re.Pattern[str]]:
    out = []
    for v in values:
        try:
            out.append(re.compile(v.replace("/", "") if key == "name" else v))
        except re.error as exc:
            raise UsageError(f"invalid filter {_q(key + '=' + v)}: bad regular expression "
                             f"({exc})") from None
    return out


def _f_name(values: list[str], rt: Runtime | None) -> Predicate:
    pats = _regexes("name", values)
    return lambda ctr: any(p.search(ctr.name) for p in pats)


def _f_command(values: list[str], rt: Runtime | None) -> Predicate:
    pats = _regexes("command", values)

    def match(ctr: Container) -> bool:
        cmd = ctr.record.config.command
        return bool(cmd) and any(p.search(cmd[0]) for p in pats)

    return match


def _label_match(want: str, labels: dict[str, str]) -> bool:
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _f_label(values: list[str], rt: Runtime | None) -> Predicate:
    # podman: every label filter must match
    return lambda ctr: all(_label_match(v, ctr.record.config.labels) for v in values)


def _f_not_label(values: list[str], rt: Runtime | None) -> Predicate:
    return lambda ctr: not any(_label_match(v, ctr.record.config.labels) for v in values)


def _f_status(values: list[str], rt: Runtime | None) -> Predicate:
    for v in values:
        if v not in STATUS_WORDS:
            raise UsageError(f"invalid filter {_q('status=' + v)}: unknown container state "
                             f"{v!r}; valid states are {', '.join(STATUS_WORDS)}")
    wanted = {"exited" if v == "stopped" else v for v in values}
    return lambda ctr: status_word(ctr) in wanted


def _f_exited(values: list[str], rt: Runtime | None) -> Predicate:
    codes = set()
    for v in values:
        try:
            codes.add(int(v, 10))
        except ValueError:
            raise UsageError(f"invalid filter {_q('exited=' + v)}: the exit code must be an "
                             "integer") from None

    def match(ctr: Container) -> bool:
        r = ctr.record
        return r.state in (State.EXITED, State.STOPPED) and r.exit_code in codes

    return match


def _f_ancestor(values: list[str], rt: Runtime | None) -> Predicate:
    def image_ids(ctr: Container) -> set[str]:
        ids: set[str] = set()
        for v in values:
            try:
                ids.add(ctr.runtime.images.lookup(v).id)
            except OciError:
                pass  # not a local image: the name and ID tests below still apply
        return ids

    resolved: list[set[str]] = []

    def match(ctr: Container) -> bool:
        if not resolved:
            resolved.append(image_ids(ctr))
        r = ctr.record
        image_id = r.image_id.removeprefix("sha256:")
        for v in values:
            bare = v.removeprefix("sha256:")
            if v == r.image_name or (bare and image_id.startswith(bare)):
                return True
            if r.image_name.endswith(":latest") and v == r.image_name[:-len(":latest")]:
                return True
        return r.image_id in resolved[0]

    return match


def _created_of(rt: Runtime, key: str, values: list[str]) -> float:
    try:
        return min(rt.lookup_container(v).record.created_at for v in values)
    except NoSuchContainer as exc:
        raise UsageError(f"invalid filter {_q(key + '=' + exc.ref)}: no container with "
                         f"name or ID {_q(exc.ref)} found") from None


def _f_before(values: list[str], rt: Runtime | None) -> Predicate:
    assert rt is not None
    when = _created_of(rt, "before", values)
    return lambda ctr: ctr.record.created_at < when


def _f_since(values: list[str], rt: Runtime | None) -> Predicate:
    assert rt is not None
    when = _created_of(rt, "since", values)
    return lambda ctr: ctr.record.created_at > when


def _f_until(values: list[str], rt: Runtime | None) -> Predicate:
    from .timeparse import filter_timestamp as timestamp

    try:
        when = max(timestamp(v) for v in values)
    except UsageError as exc:
        raise UsageError(f"invalid filter 'until': {exc}") from None
    return lambda ctr: ctr.record.created_at < when


def _f_volume(values: list[str], rt: Runtime | None) -> Predicate:
    wanted = [v.partition(":")[::2] for v in values]

    def match(ctr: Container) -> bool:
        for m in ctr.record.config.mounts:
            src, dst = str(m.get("source", "")), str(m.get("destination", ""))
            vol = str(m.get("volume") or "")
            for source, dest in wanted:
                if dest:
                    if (source in (src, vol)) and dest == dst:
                        return True
                elif source in (src, dst) or (vol and source == vol):
                    return True
        return False

    return match


def _f_network(values: list[str], rt: Runtime | None) -> Predicate:
    assert rt is not None
    names: set[str] = set()
    ctr_ids: set[str] = set()
    for v in values:
        if v.startswith("container:"):
            try:
                ctr_ids.add(rt.lookup_container(v[len("container:"):]).id)
            except NoSuchContainer:
                pass
            continue
        names.add(v)
        try:
            names.add(rt.network.networks.get(v).name)
        except OciError:
            pass  # an unknown network matches no container (podman skips it)

    def match(ctr: Container) -> bool:
        cfg = ctr.record.config
        if cfg.network.startswith("container:"):
            return cfg.network[len("container:"):] in ctr_ids
        return cfg.network == "bridge" and any(n in names for n in cfg.networks)

    return match


_POLICIES = ("none", "no", "on-failure", "always", "unless-stopped")


def _f_restart_policy(values: list[str], rt: Runtime | None) -> Predicate:
    bad = [v for v in values if v not in _POLICIES]
    if bad:
        # podman's exact words (its system tests compare them); the policies are
        # listed in --help and docs/CLI.md.
        raise UsageError(f"{', '.join(bad)} invalid restart "
                         f"polic{'ies' if len(bad) > 1 else 'y'}")
    wanted = {"" if v == "none" else v for v in values}
    return lambda ctr: getattr(ctr.record.config, "restart_policy", "") in wanted


_BUILDERS: dict[str, Callable[[list[str], Any], Predicate]] = {
    "id": _f_id, "name": _f_name, "command": _f_command, "label": _f_label,
    "label!": _f_not_label, "status": _f_status, "exited": _f_exited,
    "ancestor": _f_ancestor, "before": _f_before, "since": _f_since, "until": _f_until,
    "volume": _f_volume, "network": _f_network, "restart-policy": _f_restart_policy,
}
_NEEDS_RUNTIME = frozenset({"before", "since", "network"})


def _keys() -> str:
    return ", ".join(FILTER_KEYS)


def _q(text: str) -> str:
    """Go's %q of a plain string, as podman quotes names in messages."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- ps ---------------------------------------------------------------------------------------


def list_containers(rt: Runtime, *, all: bool = False, filters: Sequence[str] = (),
                    last: int | None = None, latest: bool = False) -> list[Container]:
    """The containers ``ps`` shows, oldest first (podman's rules for -a, -n, -l, -f)."""
    pred = container_filter(list(filters), rt)
    if latest:
        last = 1
    everything = all or bool(last and last > 0) or any(
        f.startswith("status=") for f in filters)
    ctrs = [c for c in rt.containers(all=True)
            if (everything or status_word(c) == "running") and pred(c)]
    if last is not None and last > 0:
        ctrs = sorted(ctrs, key=lambda c: c.record.created_at, reverse=True)[:last]
    return sorted(ctrs, key=lambda c: c.record.created_at)


def sort_containers(ctrs: Sequence[Container], key: str,
                    sizes: dict[str, int] | None = None) -> list[Container]:
    """``ps --sort KEY`` (podman's keys: SORT_KEYS); ``size`` needs ``sizes`` (id -> bytes)."""
    keys: dict[str, Callable[[Container], Any]] = {
        "command": lambda c: " ".join(c.record.config.command),
        "created": lambda c: c.record.created_at,
        "id": lambda c: c.id,
        "image": lambda c: c.record.image_name,
        "names": lambda c: c.name,
        "runningfor": lambda c: c.record.started_at,
        "size": lambda c: (sizes or {}).get(c.id, 0),
        "status": status_word,
    }
    if key not in keys:
        raise UsageError(f"invalid option {key!r} for --sort: options are "
                         f"{', '.join(SORT_KEYS)}")
    return sorted(ctrs, key=keys[key])


def latest_container(rt: Runtime) -> Container:
    """The container created last (``--latest``)."""
    ctrs = rt.containers(all=True, sync=False)
    if not ctrs:
        raise NoLatestContainer()
    return max(ctrs, key=lambda c: c.record.created_at)


# -- lifecycle targets --------------------------------------------------------------------------


@dataclass
class Target:
    container: Container
    # What podman prints on success: the reference typed, else the full ID.
    raw: str


@dataclass
class Selection:
    targets: list[Target]
    # Chosen by --all: containers in the wrong state are skipped quietly (podman).
    bulk: bool = False


def read_cidfile(path: str, ignore: bool = False) -> str | None:
    """The container ID in a ``--cidfile`` (its first line); None when ``ignore`` and
    the file does not exist."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        if ignore:
            return None
        raise UsageError(f"reading CIDFile: {path}: no such file (it is written by "
                         "'run --cidfile' or 'create --cidfile')") from None
    except OSError as exc:
        raise UsageError(f"reading CIDFile: {path}: {exc.strerror or exc}") from None
    cid = text.split("\n", 1)[0].strip()
    if not cid:
        raise UsageError(f"reading CIDFile: {path} is empty: it should hold a container ID")
    return cid


def check_selection_flags(refs: Sequence[str], *, all: bool = False, latest: bool = False,
                          cidfiles: Sequence[str] = (), filters: Sequence[str] = ()) -> None:
    """podman's rules for names with --all, --latest, --cidfile and --filter."""
    if filters:
        if refs:
            raise UsageError("--filter takes no arguments")
        return
    if cidfiles and (all or latest):
        raise UsageError("--all, --latest, and --cidfile cannot be used together")
    if all and latest:
        raise UsageError("--all and --latest cannot be used together")
    if refs and all:
        raise UsageError("no arguments are needed with --all")
    if refs and latest:
        raise UsageError("--latest and containers cannot be used together")
    if refs and cidfiles:
        raise UsageError("no arguments are needed with --latest or --cidfile")
    if not refs and not all and not latest and not cidfiles:
        raise UsageError("you must provide at least one name or id")


def select_targets(rt: Runtime, refs: Sequence[str], *, all: bool = False,
                   latest: bool = False, cidfiles: Sequence[str] = (),
                   filters: Sequence[str] = (), ignore: bool = False,
                   states: Sequence[str] | None = None, check: bool = True) -> Selection:
    """The containers a lifecycle verb acts on.

    Names are looked up first: one that does not exist fails the whole command
    before anything is done (podman's rule), unless ``ignore``. ``states`` limits
    ``--all`` to containers in those podman state words (e.g. pause: running).
    """
    if check:
        check_selection_flags(refs, all=all, latest=latest, cidfiles=cidfiles,
                              filters=filters)
    names = list(refs)
    for path in cidfiles:
        cid = read_cidfile(path, ignore)
        if cid is not None:
            names.append(cid)
    if filters:
        pred = container_filter(list(filters), rt)
        matched = [c for c in rt.containers(all=True) if pred(c)]
        if names:  # names from --cidfile: exact IDs or names among the matches
            matched = [c for c in matched if c.id in names or c.name in names]
        return Selection([Target(c, c.id) for c in matched])
    if all:
        ctrs = rt.containers(all=True)
        if states is not None:
            ctrs = [c for c in ctrs if status_word(c) in states]
        return Selection([Target(c, c.id) for c in ctrs], bulk=True)
    if latest:
        ctr = latest_container(rt)
        return Selection([Target(ctr, ctr.id)])
    targets: list[Target] = []
    missing: list[OciError] = []
    seen: set[str] = set()
    for ref in names:
        try:
            ctr = rt.lookup_container(ref)
        except NoSuchContainer as exc:
            if not ignore:
                missing.append(exc)
            continue
        if ctr.id not in seen:
            seen.add(ctr.id)
            targets.append(Target(ctr, ref))
    if missing:
        raise missing[0]
    return Selection(targets)


@dataclass
class Outcome:
    target: Target
    value: Any = None
    error: OciError | None = None


@dataclass
class Outcomes:
    items: list[Outcome] = field(default_factory=list)

    @property
    def errors(self) -> list[OciError]:
        return [o.error for o in self.items if o.error is not None]

    @property
    def done(self) -> list[Outcome]:
        return [o for o in self.items if o.error is None]


def apply(rt: Runtime, selection: Selection, action: Callable[[Container], Any],
          skip_gone: bool = False) -> Outcomes:
    """Run ``action`` on every target, in order, after its reaping pass; every failure
    is kept, not raised. With ``--all``, containers in the wrong state for the action
    are skipped (podman's rule), and so are containers removed meanwhile (also with
    ``skip_gone``)."""
    out = Outcomes()
    for target in selection.targets:
        try:
            rt.touch(target.container)
            out.items.append(Outcome(target, action(target.container)))
        except InvalidState as exc:
            if not selection.bulk:
                out.items.append(Outcome(target, error=exc))
        except NoSuchContainer as exc:
            if not (skip_gone or selection.bulk):
                out.items.append(Outcome(target, error=exc))
        except OciError as exc:
            out.items.append(Outcome(target, error=exc))
    return out

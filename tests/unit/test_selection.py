"""engine/selection.py: podman's container filters, ps order and sort, target selection
rules; the ``container X`` alias rewrite and the lifecycle flag checks of the grammar.

Predicates run on container records built in memory (no process is needed to ask
"does this record match"); the rules that look containers up (before, since,
--latest, --depend) use real records in a Runtime on the fake OCI runtime.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.engine.container import Container
from ipy_oci.engine.lifecycle import (
    check_conditions,
    dependents,
    interval_seconds,
    with_dependents,
)
from ipy_oci.engine.records import ContainerConfig, ContainerRecord, State
from ipy_oci.engine.selection import (
    FILTER_KEYS,
    NoLatestContainer,
    Selection,
    Target,
    check_selection_flags,
    container_filter,
    latest_container,
    parse_filters,
    read_cidfile,
    select_targets,
    sort_containers,
    status_word,
)
from ipy_oci.errors import NoSuchContainer, UsageError
from ipy_oci.grammar.parser import parse
from ipy_oci.grammar.parser_lifecycle import check_lifecycle_flags
from ipy_oci.grammar.ps import human_size_short

_N = iter(range(1, 10_000))


def _ctr(name: str = "c", state: str = State.RUNNING, exit_code: int | None = None,
         labels: dict[str, str] | None = None, command: list[str] | None = None,
         mounts: list[dict[str, Any]] | None = None, image: str = "localhost/busybox:latest",
         image_id: str = "ab" * 32, network: str = "none", networks: list[str] | None = None,
         created: float | None = None, started: float = 0.0) -> Container:
    n = next(_N)
    cfg = ContainerConfig(image="busybox", command=command or ["sleep", "1"],
                          labels=labels or {}, mounts=mounts or [], network=network,
                          networks=networks or [])
    rec = ContainerRecord(id=f"{n:04x}" + "e" * 60, name=name, image_id=image_id,
                          image_name=image, created_at=created or 1000.0 + n, state=state,
                          config=cfg, exit_code=exit_code, started_at=started)
    return Container(None, rec)  # type: ignore[arg-type]  # no runtime: records only


def _names(pred: Any, ctrs: list[Container]) -> list[str]:
    return [c.name for c in ctrs if pred(c)]


# -- filter parsing ---------------------------------------------------------------------------
def test_parse_filters_groups_values_by_key() -> None:
    assert parse_filters(["status=exited", "label=a=b", "status=running", "name="]) == {
        "status": ["exited", "running"], "label": ["a=b"], "name": [""]}


@pytest.mark.parametrize("bad, words", [
    ("status", ['invalid filter "status"', "KEY=VALUE"]),
    ("=x", ['invalid filter "=x"']),
    ("colour=red", ["'colour' is not a container filter", "valid filters are ancestor"]),
])
def test_parse_filters_refuses_malformed_and_unknown_keys(bad: str, words: list[str]) -> None:
    with pytest.raises(UsageError) as exc:
        parse_filters([bad])
    for word in words:
        assert word in str(exc.value)
    assert exc.value.exit_code == 125


@pytest.mark.parametrize("bad, words", [
    ("status=sleeping", ["unknown container state 'sleeping'", "running"]),
    ("exited=zero", ["exited=zero", "integer"]),
    ("name=[", ["name=[", "regular expression"]),
])
def test_bad_filter_values_name_the_filter(bad: str, words: list[str]) -> None:
    with pytest.raises(UsageError) as exc:
        container_filter([bad])
    for word in words:
        assert word in str(exc.value)


def test_every_documented_key_builds() -> None:
    values = {"status": "running", "exited": "0", "before": "x", "since": "x",
              "until": "10m", "restart-policy": "none"}
    for key in FILTER_KEYS:
        if key in ("before", "since", "network"):
            continue  # these look containers and networks up: see the runtime tests
        assert callable(container_filter([f"{key}={values.get(key, 'v')}"]))


# -- matching ----------------------------------------------------------------------------------
def test_status_words_are_podmans() -> None:
    ctrs = [_ctr("conf", State.CONFIGURED), _ctr("init", State.CREATED),
            _ctr("run", State.RUNNING), _ctr("paused", State.PAUSED),
            _ctr("gone", State.EXITED, 0), _ctr("dying", State.STOPPED, 1)]
    assert [status_word(c) for c in ctrs] == ["created", "initialized", "running", "paused",
                                              "exited", "exited"]
    assert _names(container_filter(["status=exited"]), ctrs) == ["gone", "dying"]
    # podman: "stopped" means exited; one key given twice matches either value
    assert _names(container_filter(["status=stopped"]), ctrs) == ["gone", "dying"]
    assert _names(container_filter(["status=created", "status=paused"]), ctrs) == [
        "conf", "paused"]


def test_exited_matches_exit_codes_of_exited_containers_only() -> None:
    ctrs = [_ctr("ok", State.EXITED, 0), _ctr("bad", State.EXITED, 3),
            _ctr("new", State.CONFIGURED), _ctr("run", State.RUNNING)]
    assert _names(container_filter(["exited=0"]), ctrs) == ["ok"]
    assert _names(container_filter(["exited=3", "exited=0"]), ctrs) == ["ok", "bad"]
    # different keys: all must match
    assert _names(container_filter(["exited=0", "status=running"]), ctrs) == []


def test_label_filters_all_must_match_and_negation() -> None:
    ctrs = [_ctr("ab", labels={"a": "1", "b": ""}), _ctr("a2", labels={"a": "2"}),
            _ctr("none")]
    assert _names(container_filter(["label=a"]), ctrs) == ["ab", "a2"]
    assert _names(container_filter(["label=a=1"]), ctrs) == ["ab"]
    assert _names(container_filter(["label=a", "label=b"]), ctrs) == ["ab"]  # podman: AND
    assert _names(container_filter(["label=b="]), ctrs) == ["ab"]
    assert _names(container_filter(["label!=a=1"]), ctrs) == ["a2", "none"]
    assert _names(container_filter(["label!=a"]), ctrs) == ["none"]


def test_name_is_an_unanchored_regex_and_id_a_prefix() -> None:
    ctrs = [_ctr("web-1"), _ctr("db-1"), _ctr("web-2")]
    assert _names(container_filter(["name=web"]), ctrs) == ["web-1", "web-2"]
    assert _names(container_filter(["name=^db"]), ctrs) == ["db-1"]
    assert _names(container_filter(["name=-1$", "name=^web-2$"]), ctrs) == [
        "web-1", "db-1", "web-2"]
    target = ctrs[1]
    assert _names(container_filter([f"id={target.id[:5]}"]), ctrs) == ["db-1"]
    assert _names(container_filter([f"id={target.id[2:8]}"]), ctrs) == []  # not a prefix


def test_command_volume_and_network_matching() -> None:
    vol = {"source": "/srv/data", "destination": "/data", "readonly": False}
    named = {"source": "/root/volumes/v1/_data", "destination": "/v", "volume": "v1"}
    ctrs = [_ctr("sh", command=["sh", "-c", "x"], mounts=[vol]),
            _ctr("top", command=["top"], mounts=[named]),
            _ctr("plain")]
    assert _names(container_filter(["command=^sh$"]), ctrs) == ["sh"]
    for value in ("/srv/data", "/data", "/srv/data:/data"):
        assert _names(container_filter([f"volume={value}"]), ctrs) == ["sh"]
    assert _names(container_filter(["volume=/srv/data:/other"]), ctrs) == []
    assert _names(container_filter(["volume=v1"]), ctrs) == ["top"]
    assert _names(container_filter(["volume=v1:/v"]), ctrs) == ["top"]


def test_until_takes_durations_and_times() -> None:
    now = time.time()
    old, new = _ctr("old", created=now - 3600), _ctr("new", created=now - 5)
    assert _names(container_filter(["until=10m"]), [old, new]) == ["old"]
    assert _names(container_filter([f"until={int(now) + 60}"]), [old, new]) == ["old", "new"]
    with pytest.raises(UsageError):
        container_filter(["until=yesterday-ish"])


# -- ps order, sort, sizes --------------------------------------------------------------------
def test_sort_keys() -> None:
    a = _ctr("b-name", command=["zz"], image="z/img", started=5.0)
    b = _ctr("a-name", command=["aa"], image="a/img", state=State.EXITED, started=9.0)
    assert [c.name for c in sort_containers([a, b], "names")] == ["a-name", "b-name"]
    assert [c.name for c in sort_containers([a, b], "command")] == ["a-name", "b-name"]
    assert [c.name for c in sort_containers([a, b], "image")] == ["a-name", "b-name"]
    assert [c.name for c in sort_containers([b, a], "created")] == ["b-name", "a-name"]
    assert [c.name for c in sort_containers([b, a], "runningfor")] == ["b-name", "a-name"]
    assert [c.name for c in sort_containers([a, b], "status")] == ["a-name", "b-name"]
    assert [c.name for c in sort_containers([b, a], "size", {a.id: 1, b.id: 5})] == [
        "b-name", "a-name"]
    with pytest.raises(UsageError, match="--sort"):
        sort_containers([a], "colour")


@pytest.mark.parametrize("n, text", [(0, "0B"), (12, "12B"), (999, "999B"),
                                     (1987382, "1.99MB"), (1000, "1kB"),
                                     (4_260_000, "4.26MB"), (999_500, "1e+03kB")])
def test_size_words_as_podman(n: int, text: str) -> None:
    assert human_size_short(n) == text


# -- target selection -------------------------------------------------------------------------
@pytest.mark.parametrize("refs, kw, message", [
    (["a"], {"filters": ["name=a"]}, "--filter takes no arguments"),
    ([], {"all": True, "cidfiles": ["f"]}, "--all, --latest, and --cidfile cannot be used"),
    ([], {"all": True, "latest": True}, "--all and --latest cannot be used together"),
    (["a"], {"all": True}, "no arguments are needed with --all"),
    (["a"], {"latest": True}, "--latest and containers cannot be used together"),
    (["a"], {"cidfiles": ["f"]}, "no arguments are needed with --latest or --cidfile"),
    ([], {}, "you must provide at least one name or id"),
])
def test_selection_flag_rules(refs: list[str], kw: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_selection_flags(refs, **kw)


def test_selection_flags_that_are_fine() -> None:
    check_selection_flags(["a", "b"])
    check_selection_flags([], all=True)
    check_selection_flags([], latest=True)
    check_selection_flags([], cidfiles=["f"], filters=["name=x"])


def test_read_cidfile(tmp_path: Path) -> None:
    f = tmp_path / "cid"
    f.write_text("abc123\nignored\n")
    assert read_cidfile(str(f)) == "abc123"
    with pytest.raises(UsageError, match="reading CIDFile: .*no such file"):
        read_cidfile(str(tmp_path / "missing"))
    assert read_cidfile(str(tmp_path / "missing"), ignore=True) is None
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(UsageError, match="is empty"):
        read_cidfile(str(tmp_path / "empty"))


@pytest.mark.parametrize("argv, message", [
    (["start", "--all", "x"], "either start all containers or the container"),
    (["start"], "start requires at least one argument"),
    (["start", "-a", "x", "y"], "you cannot start and attach multiple containers"),
    (["restart", "--running", "x"], "no arguments are needed with --running"),
    (["wait"], "requires a name, id, or the \"--latest\" flag"),
    (["rm", "-t", "3", "x"], "--force option must be specified to use the --time option"),
    (["kill", "-a", "x"], "no arguments are needed with --all"),
])
def test_lifecycle_flag_checks(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_lifecycle_flags(parse(argv))


def test_wait_conditions_and_interval() -> None:
    assert check_conditions([]) == ["stopped", "exited"]
    assert check_conditions(["running", "paused"]) == ["running", "paused"]
    with pytest.raises(UsageError, match="invalid --condition 'sleeping'"):
        check_conditions(["sleeping"])
    assert interval_seconds("250ms") == 0.25 and interval_seconds("1m") == 60
    with pytest.raises(UsageError, match="invalid --interval"):
        interval_seconds("soon")


# -- the container X aliases ------------------------------------------------------------------
def test_container_aliases_rewrite_to_the_top_level_command() -> None:
    args = parse(["--root", "/r", "container", "stop", "-t", "0", "c1"])
    assert (args.cmd, args.containers, args.time, args.root) == ("stop", ["c1"], 0, "/r")
    for alias in ("list", "ls", "ps"):
        assert parse(["container", alias, "-a"]).cmd == "ps"
    exists = parse(["container", "exists", "c1"])
    assert (exists.cmd, exists.ccmd, exists.container) == ("container", "exists", "c1")
    cleanup = parse(["container", "cleanup", "--rm", "c1"])
    assert (cleanup.ccmd, cleanup.rm) == ("cleanup", True)


def test_container_alias_errors_name_the_alias() -> None:
    with pytest.raises(UsageError, match="ipy-oci container stop: unrecognized arguments"):
        parse(["container", "stop", "--bogus", "c"])
    with pytest.raises(UsageError, match="invalid choice: 'frobnicate'"):
        parse(["container", "frobnicate"])
    with pytest.raises(UsageError, match="%oci container rm: unrecognized"):
        parse(["container", "rm", "--nope", "c"], prog="%oci")


# -- with a runtime: lookups, --latest, --depend ------------------------------------------------
def _create(rt: Any, name: str, **cfg: Any) -> Container:
    return rt.create_container(ContainerConfig(image="busybox", command=["true"], **cfg), name)


def test_before_since_latest_and_names(fake_rt: Any) -> None:
    with pytest.raises(NoLatestContainer, match="--latest found no containers"):
        latest_container(fake_rt)
    made = [_create(fake_rt, n) for n in ("one", "two", "three")]
    try:
        ctrs = fake_rt.containers(sync=False)
        assert _names(container_filter(["before=two"], fake_rt), ctrs) == ["one"]
        assert _names(container_filter(["since=one"], fake_rt), ctrs) == ["two", "three"]
        # several values: the earliest of them counts (podman)
        assert _names(container_filter(["since=three", "since=one"], fake_rt), ctrs) == [
            "two", "three"]
        with pytest.raises(UsageError, match='before=nosuch": no container'):
            container_filter(["before=nosuch"], fake_rt)
        assert latest_container(fake_rt).name == "three"

        sel = select_targets(fake_rt, ["one", made[2].id[:10]])
        assert [(t.container.name, t.raw) for t in sel.targets] == [
            ("one", "one"), ("three", made[2].id[:10])]
        with pytest.raises(NoSuchContainer, match='"ghost" found: no such container'):
            select_targets(fake_rt, ["one", "ghost"])
        assert [t.raw for t in select_targets(fake_rt, ["ghost", "two"],
                                              ignore=True).targets] == ["two"]
        by_filter = select_targets(fake_rt, [], filters=["name=^t"])
        assert [t.raw for t in by_filter.targets] == [made[1].id, made[2].id]
        assert select_targets(fake_rt, [], all=True).bulk is True
    finally:
        for c in made:
            c.remove(force=True)


def test_cidfile_targets(fake_rt: Any, tmp_path: Path) -> None:
    ctr = _create(fake_rt, "cidded")
    try:
        f = tmp_path / "cid"
        f.write_text(ctr.id + "\n")
        sel = select_targets(fake_rt, [], cidfiles=[str(f)])
        assert [t.container.id for t in sel.targets] == [ctr.id]
        assert select_targets(fake_rt, [], cidfiles=[str(tmp_path / "nope")],
                              ignore=True).targets == []
    finally:
        ctr.remove(force=True)


def test_depend_orders_dependents_first(fake_rt: Any) -> None:
    base = _create(fake_rt, "base")
    made = [base]
    try:
        made.append(_create(fake_rt, "user1", network=f"container:{base.id}"))
        made.append(_create(fake_rt, "user2", network=f"container:{base.id}"))
        assert sorted(c.name for c in dependents(fake_rt, base)) == ["user1", "user2"]
        ordered = with_dependents(fake_rt, Selection([Target(base, "base")]))
        assert [t.container.name for t in ordered.targets][-1] == "base"
        assert sorted(t.container.name for t in ordered.targets[:2]) == ["user1", "user2"]
    finally:
        for c in reversed(made):
            c.remove(force=True)


def test_restart_policy_filter() -> None:
    plain, always, no = _ctr("plain"), _ctr("always"), _ctr("no")
    always.record.config.restart_policy = "always"
    no.record.config.restart_policy = "no"
    ctrs = [plain, always, no]
    assert _names(container_filter(["restart-policy=none"]), ctrs) == ["plain"]
    assert _names(container_filter(["restart-policy=always", "restart-policy=no"]),
                  ctrs) == ["always", "no"]
    with pytest.raises(UsageError, match="fakepolicy invalid restart policy"):
        container_filter(["restart-policy=fakepolicy"])

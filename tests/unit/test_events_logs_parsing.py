"""Parsing for ``logs`` and ``events``: podman's time forms, the k8s-file log format
(partial lines, tail, since/until), the events log (JSON lines, filters, rotation)
and what both print. No containers: logs and event files are written here.

The k8s-file lines below are in the form conmon 2.1.6 writes them (``+00:00``
offsets, ``P`` for a piece of a line); event lines are podman 4.3.1's file backend
format (``podman --events-backend file``, then ``events --format json``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.engine import events as ev_mod
from ipy_oci.engine.events import Event, EventQuery, parse_query, read_events, write_event
from ipy_oci.engine.logs import (
    LogLine,
    LogOptions,
    format_line,
    parse_line,
    read_lines,
)
from ipy_oci.engine.timeparse import (
    go_time,
    parse_duration,
    parse_input_time,
    parse_rfc3339,
    rfc3339_nano,
)
from ipy_oci.errors import UsageError
from ipy_oci.grammar.events_output import check_format, format_event
from ipy_oci.grammar.gotemplate import TemplateError
from ipy_oci.grammar.parser import parse
from ipy_oci.grammar.parser_logs import (
    check_attach_args,
    check_logs_args,
    go_bool,
    log_options,
)

NS = 1_000_000_000
T0 = 1_700_000_000 * NS  # 2023-11-14T22:13:20Z


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def cst(monkeypatch: pytest.MonkeyPatch) -> None:
    """A zone six hours west of UTC, named CST (POSIX TZ string: no zone files needed)."""
    monkeypatch.setenv("TZ", "CST+6")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- time values ----------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("2023-11-14T22:13:20Z", T0),
    ("2023-11-14T22:13:20.5Z", T0 + NS // 2),
    ("2023-11-14T22:13:20.123456789Z", T0 + 123456789),
    ("2023-11-15T00:13:20+02:00", T0),
    ("2023-11-14T16:13:20-06:00", T0),
    ("2023-11-14T22:13:20", T0),  # no zone: UTC, as Go parses it
    ("2023-11-14T22:13:20.25", T0 + NS // 4),
    ("2023-11-14", T0 - (22 * 3600 + 13 * 60 + 20) * NS),
    ("2023-11-14Z", T0 - (22 * 3600 + 13 * 60 + 20) * NS),
    ("2023-11-14+01:00", T0 - (23 * 3600 + 13 * 60 + 20) * NS),
    ("1700000000", T0),
    ("1700000000.5", T0 + NS // 2),
    ("0", 0),
])
def test_input_time_absolute_forms(text: str, expected: int) -> None:
    assert parse_input_time(text, since=True) == expected
    assert parse_input_time(text, since=False) == expected


def test_input_time_durations_count_back_for_since_and_forward_for_until() -> None:
    now = T0
    assert parse_input_time("10m", since=True, now_ns=now) == now - 600 * NS
    assert parse_input_time("10m", since=False, now_ns=now) == now + 600 * NS
    assert parse_input_time("1h30m", since=True, now_ns=now) == now - 5400 * NS
    assert parse_input_time("1.5s", since=True, now_ns=now) == now - 3 * NS // 2
    assert parse_input_time("300ms", since=True, now_ns=now) == now - 300_000_000


@pytest.mark.parametrize("text,ns", [
    ("0", 0), ("1h", 3600 * NS), ("1h30m10s", 5410 * NS), ("2.5m", 150 * NS),
    ("10us", 10_000), ("10µs", 10_000), ("7ns", 7), ("-1s", -NS), (".5s", NS // 2),
])
def test_go_durations(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", [
    "", "bogus", "10", "1d", "h", "1h-", "1 h", "--1s", "1s2",
])
def test_not_go_durations(text: str) -> None:
    assert parse_duration(text) is None or text == "10"  # "10" is Unix seconds instead


@pytest.mark.parametrize("text", [
    "bogus", "", "2023-13-01", "2023-02-30", "2023-11-14T25:00:00Z", "2023-11-14T22:60:00Z",
    "2023-11-14T22:13:60Z", "10x", "1h-", "yesterday", "2023/11/14", "1_000", "inf",
    "2023-11-14T22:13:20+2:00",
])
def test_bad_input_times_name_the_value_and_the_forms(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_input_time(text, since=True)
    assert repr(text) in str(err.value)
    assert "RFC3339" in str(err.value) and "duration" in str(err.value)


def test_rfc3339_stamps_as_conmon_writes_them() -> None:
    assert parse_rfc3339("2023-11-14T22:13:20.098614357+00:00") == T0 + 98614357
    assert parse_rfc3339("2023-11-14T22:13:20Z") == T0
    assert parse_rfc3339("not a time") is None
    assert parse_rfc3339("2023-11-14 22:13:20Z") is None


def test_time_formatting_utc(utc: None) -> None:
    assert rfc3339_nano(T0) == "2023-11-14T22:13:20Z"
    assert rfc3339_nano(T0 + 120_000_000) == "2023-11-14T22:13:20.12Z"  # zeros dropped
    assert go_time(T0 + 312377447) == "2023-11-14 22:13:20.312377447 +0000 UTC"
    assert go_time(T0) == "2023-11-14 22:13:20 +0000 UTC"


def test_time_formatting_local_zone(cst: None) -> None:
    # podman's documented line: "2019-03-02 10:33:42.312377447 -0600 CST"
    assert go_time(T0 + 312377447) == "2023-11-14 16:13:20.312377447 -0600 CST"
    assert rfc3339_nano(T0 + 5) == "2023-11-14T16:13:20.000000005-06:00"
    assert parse_rfc3339(rfc3339_nano(T0 + 5)) == T0 + 5


# -- the k8s-file log --------------------------------------------------------------------------
def _stamp(offset_ns: int) -> str:
    secs, frac = divmod(T0 + offset_ns, NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}+00:00"


def _log(path: Path, entries: list[tuple[int, str, str, str]]) -> Path:
    """(ns offset, stream, F|P, data) -> conmon's lines."""
    path.write_bytes(b"".join(f"{_stamp(t)} {s} {tag} {d}\n".encode()
                              for t, s, tag, d in entries))
    return path


def test_parse_line() -> None:
    assert parse_line(b"2023-11-14T22:13:20.000000001+00:00 stdout F hi there\n") == (
        "2023-11-14T22:13:20.000000001+00:00", "stdout", True, b"hi there")
    assert parse_line(b"2023-11-14T22:13:20+00:00 stderr P \n") == (
        "2023-11-14T22:13:20+00:00", "stderr", False, b"")
    assert parse_line(b"2023-11-14T22:13:20+00:00 stdout F\n")[3] == b""  # an empty line
    for bad in (b"garbage\n", b"2023 stdin F x\n", b"2023 stdout X x\n", b"\n"):
        assert parse_line(bad) is None


def test_partial_lines_are_joined_per_stream(tmp_path: Path) -> None:
    log = _log(tmp_path / "ctr.log", [
        (1, "stdout", "F", "one"),
        (2, "stdout", "P", "part"),
        (3, "stderr", "F", "an error in between"),
        (4, "stdout", "P", "more"),
        (5, "stdout", "F", "end"),
        (6, "stdout", "F", ""),
    ])
    lines = read_lines(log)
    assert [(x.stream, x.data, x.complete) for x in lines] == [
        ("stdout", b"one", True), ("stderr", b"an error in between", True),
        ("stdout", b"partmoreend", True), ("stdout", b"", True)]
    joined = lines[2]
    assert joined.time == T0 + 2  # the time of its first piece
    assert joined.stamp == _stamp(2)[:-6] + "Z"  # podman prints Z for UTC


def test_unfinished_line_and_malformed_lines(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    _log(log, [(1, "stdout", "F", "a"), (2, "stdout", "P", "prompt> ")])
    with open(log, "ab") as fh:
        fh.write(b"this is not a log line\n")
        fh.write(f"{_stamp(3)} stdout F cut off while writ".encode())  # no newline yet
    lines = read_lines(log)
    assert [(x.data, x.complete) for x in lines] == [(b"a", True), (b"prompt> ", False)]
    assert read_lines(tmp_path / "missing.log") == []


def test_tail_counts_whole_lines_from_the_end(tmp_path: Path) -> None:
    entries = [(i, "stdout", "F", f"line {i}") for i in range(5000)]
    entries += [(5000, "stdout", "P", "x" * 100), (5001, "stdout", "P", "y" * 100),
                (5002, "stdout", "F", "z")]
    log = _log(tmp_path / "ctr.log", entries)
    last = read_lines(log, LogOptions(tail=2))
    assert [x.data for x in last] == [b"line 4999", b"x" * 100 + b"y" * 100 + b"z"]
    assert [x.data for x in read_lines(log, LogOptions(tail=1))] == [b"x" * 100 + b"y" * 100
                                                                      + b"z"]
    assert read_lines(log, LogOptions(tail=0)) == []
    assert len(read_lines(log, LogOptions(tail=100000))) == 5001
    assert len(read_lines(log)) == 5001


def test_since_and_until_are_strict(tmp_path: Path) -> None:
    log = _log(tmp_path / "ctr.log", [(t * NS, "stdout", "F", f"t{t}") for t in range(5)])
    got = read_lines(log, LogOptions(since=T0 + 1 * NS, until=T0 + 4 * NS))
    assert [x.data for x in got] == [b"t2", b"t3"]
    both = read_lines(log, LogOptions(tail=3, since=T0 + 2 * NS))
    assert [x.data for x in both] == [b"t3", b"t4"]


def _line(data: bytes, **kw: Any) -> LogLine:
    base: dict[str, Any] = dict(time=T0, stamp="2023-11-14T22:13:20.000000000Z",
                                stream="stdout", data=data, container_id="a" * 64,
                                container_name="web")
    base.update(kw)
    return LogLine(**base)


def test_format_line_as_podman() -> None:
    plain = LogOptions()
    assert format_line(_line(b"hi"), plain, multi=False) == b"hi\n"
    assert format_line(_line(b"hi"), LogOptions(names=True), multi=False) == b"hi\n"
    assert format_line(_line(b"hi"), plain, multi=True) == b"aaaaaaaaaaaa hi\n"
    assert format_line(_line(b"hi"), LogOptions(names=True), multi=True) == b"web hi\n"
    assert format_line(_line(b"hi"), LogOptions(timestamps=True), multi=False) == \
        b"2023-11-14T22:13:20.000000000Z hi\n"
    assert format_line(_line(b"hi"), LogOptions(timestamps=True, names=True), multi=True) \
        == b"web 2023-11-14T22:13:20.000000000Z hi\n"
    # a piece of a line: no newline; what continues it gets no prefix
    assert format_line(_line(b"pro", complete=False), LogOptions(timestamps=True),
                       multi=False) == b"2023-11-14T22:13:20.000000000Z pro"
    assert format_line(_line(b"mpt", continued=True), LogOptions(timestamps=True),
                       multi=True) == b"mpt\n"
    assert format_line(_line(b"hi", color_id=1), LogOptions(colors=True), multi=True) == \
        b"\x1b[31maaaaaaaaaaaa hi\x1b[0m\n"


def test_logs_flags(utc: None) -> None:
    args = parse(["logs", "--tail", "3", "-t", "-n", "--since", "2023-11-14", "--until",
                  "1700000000", "c1", "c2"])
    opts = log_options(args)
    assert (opts.tail, opts.timestamps, opts.names) == (3, True, True)
    assert opts.since == parse_input_time("2023-11-14", True) and opts.until == T0
    assert log_options(parse(["logs", "c"])).tail is None  # -1: everything
    check_logs_args(args)


@pytest.mark.parametrize("argv,words", [
    (["logs"], "specify at least one container"),
    (["logs", "-l", "c1"], "--latest and containers cannot be used together"),
    (["logs", "--tail", "x", "c"], "--tail"),
    (["logs", "--since", "soon", "c"], "parsing --since: invalid time 'soon'"),
    (["logs", "--until", "2023-99-01", "c"], "parsing --until"),
    (["logs", "--follw", "c"], "unrecognized arguments"),
])
def test_bad_logs_arguments(argv: list[str], words: str) -> None:
    with pytest.raises(UsageError) as err:
        args = parse(argv)
        check_logs_args(args)
        log_options(args)
    assert words in str(err.value)
    assert err.value.exit_code == 125


# -- events: the log line ---------------------------------------------------------------------
PODMAN_LINE = ('{"ID":"9ef8a42e5e54579e89df90d3edaef70af060becba8ff80b7c9a1c939dd054327",'
               '"Image":"localhost/bb:latest","Name":"e1","Status":"create",'
               '"Time":"2026-12-06T06:13:19.848592536Z","Type":"container",'
               '"Attributes":{"foo":"bar"}}')


def test_event_json_round_trip_matches_podmans_line(utc: None) -> None:
    ev = Event.from_json(PODMAN_LINE)
    assert ev is not None
    assert (ev.type, ev.status, ev.name, ev.image, ev.attributes) == (
        "container", "create", "e1", "localhost/bb:latest", {"foo": "bar"})
    assert ev.to_json() == PODMAN_LINE
    died = Event("container", "died", T0, id="ab", name="n", exit_code=17, attributes={})
    back = Event.from_json(died.to_json())
    assert back is not None and back.exit_code == 17
    assert '"ContainerExitCode":17' in died.to_json()
    assert "ContainerExitCode" not in Event("container", "died", T0).to_json()  # omitempty
    for bad in ("", "not json", "[1, 2]", '{"Status": "x"}'):
        assert Event.from_json(bad) is None


def test_default_lines_as_podman_prints_them(utc: None) -> None:
    ev = Event.from_json(PODMAN_LINE)
    assert ev is not None
    assert ev.human() == (
        "2026-12-06 06:13:19.848592536 +0000 UTC container create 9ef8a42e5e54579e89df90d3"
        "edaef70af060becba8ff80b7c9a1c939dd054327 (image=localhost/bb:latest, name=e1, "
        "foo=bar)")
    assert "container create 9ef8a42e5e54 (image=" in ev.human(truncate=True)
    img = Event("image", "tag", T0, id="6c7f" * 16, name="localhost/bb")
    assert img.human() == f"2023-11-14 22:13:20 +0000 UTC image tag {'6c7f' * 16} localhost/bb"
    pull = Event("image", "pull", T0, name="localhost/bb")
    assert pull.human() == "2023-11-14 22:13:20 +0000 UTC image pull  localhost/bb"
    net = Event("network", "connect", T0, id="c" * 64, name="web", network="front")
    assert net.human().endswith(f"network connect {'c' * 64} (container={'c' * 64}, "
                                "name=front)")
    assert Event("volume", "create", T0, name="data").human() == \
        "2023-11-14 22:13:20 +0000 UTC volume create data"
    assert Event("system", "refresh", T0).human() == "2023-11-14 22:13:20 +0000 UTC system refresh"


def test_event_formats(utc: None) -> None:
    ev = Event.from_json(PODMAN_LINE)
    assert ev is not None
    assert format_event(ev, "json") == PODMAN_LINE
    assert format_event(ev, "{{.Status}}--{{.Name}}") == "create--e1"
    # podman: {{.Time}} is Go's Time.String(), {{.Attributes}} a map
    assert format_event(ev, "{{.Time}}|{{.Attributes}}|{{.ID}}") == (
        "2026-12-06 06:13:19.848592536 +0000 UTC|map[foo:bar]|" + ev.id)
    assert format_event(ev, "{{.Attributes.foo}} {{.Attributes.nope}}") == "bar <no value>"
    assert format_event(ev, "{{.ContainerExitCode}} {{.Type}}") == "0 container"
    assert format_event(ev) == ev.human()
    with pytest.raises(TemplateError) as err:
        format_event(ev, "{{.Nope}}")
    assert "can't evaluate field Nope" in str(err.value)
    with pytest.raises(TemplateError):
        check_format("{{.Status")  # refused before any event is read
    check_format("{{.Status}}")
    check_format("json")


# -- events: filters ---------------------------------------------------------------------------
def _ev(type: str = "container", status: str = "start", **kw: Any) -> Event:
    return Event(type, status, kw.pop("time", T0), **kw)


def test_filters_same_key_either_different_keys_all() -> None:
    q = parse_query(["container=foo", "container=bar", "event=start"])
    assert q.matches(_ev(name="foo", id="1" * 64))
    assert q.matches(_ev(name="bar", id="2" * 64))
    assert not q.matches(_ev(name="baz", id="3" * 64))
    assert not q.matches(_ev(status="stop", name="foo", id="1" * 64))
    assert parse_query(["container=1111"]).matches(_ev(name="x", id="1" * 64))  # ID prefix
    assert not parse_query(["container=foo"]).matches(_ev(type="image", name="foo"))


def test_filter_kinds() -> None:
    labelled = _ev(attributes={"app": "web", "tier": "front"})
    assert parse_query(["label=app=web"]).matches(labelled)
    assert parse_query(["label=tier"]).matches(labelled)  # the key alone
    assert not parse_query(["label=app=db"]).matches(labelled)
    assert parse_query(["status=died"]).matches(_ev(status="died"))  # podman's alias
    assert parse_query(["type=image"]).matches(_ev(type="image"))
    img = _ev(type="image", status="pull", id="abc" + "0" * 61,
              name="docker.io/library/busybox:latest")
    for value in ("busybox", "busybox:latest", "docker.io/library/busybox:latest", "abc"):
        assert parse_query([f"image={value}"]).matches(img), value
    assert not parse_query(["image=alpine"]).matches(img)
    assert parse_query(["volume=data"]).matches(_ev(type="volume", status="create",
                                                    name="data"))
    net = _ev(type="network", status="connect", id="c" * 64, network="front")
    assert parse_query(["network=front"]).matches(net)
    assert not parse_query(["network=back"]).matches(net)
    assert not parse_query(["network=ccc"]).matches(net)  # that is the container's ID
    created = _ev(type="network", status="create", id="d" * 64, name="front", network="front")
    assert parse_query(["network=ddd"]).matches(created)


def test_since_and_until_in_flags_and_filters() -> None:
    q = parse_query(["since=1700000000"], until="1700000010")
    assert (q.since, q.until) == (T0, T0 + 10 * NS)
    assert not q.matches(_ev(time=T0)) and q.matches(_ev(time=T0 + 1))
    assert not q.matches(_ev(time=T0 + 10 * NS))
    q = parse_query(since="5m", now_ns=T0)
    assert q.since == T0 - 300 * NS
    assert parse_query(["until=1700000000"]).until == T0


@pytest.mark.parametrize("filters,since,words", [
    (["bogus"], None, "invalid filter 'bogus': use KEY=VALUE"),
    (["=x"], None, "invalid filter '=x'"),
    (["color=red"], None, "'color' is an invalid events filter"),
    (["type=nope"], None, "unknown event type 'nope'"),
    (["event=strat"], None, "unknown event status 'strat'"),
    (["container="], None, "needs a value"),
    ([], "whenever", "--since: invalid time 'whenever'"),
    (["until=later"], None, "--until: invalid time 'later'"),
])
def test_bad_event_filters(filters: list[str], since: str | None, words: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_query(filters, since=since)
    assert words in str(err.value)


def test_events_flags() -> None:
    args = parse(["events", "--stream=false", "--no-trunc=false", "-f", "type=image",
                  "--filter", "event=pull", "--format", "json"])
    assert (args.stream, args.no_trunc, args.filter, args.format) == (
        False, False, ["type=image", "event=pull"], "json")
    args = parse(["events"])
    assert (args.stream, args.no_trunc, args.filter) == (True, True, [])
    assert parse(["events", "--stream"]).stream is True
    with pytest.raises(UsageError) as err:
        parse(["events", "--stream=maybe"])
    assert "invalid boolean 'maybe'" in str(err.value)
    assert go_bool("F") is False and go_bool("1") is True


def test_attach_flags() -> None:
    args = parse(["attach", "--no-stdin", "--sig-proxy=false", "--detach-keys", "ctrl-x", "c"])
    assert (args.no_stdin, args.sig_proxy, args.detach_keys, args.container) == (
        True, False, "ctrl-x", "c")
    args = parse(["attach", "c"])
    assert (args.sig_proxy, args.detach_keys, args.no_stdin) == (True, "ctrl-p,ctrl-q", False)
    check_attach_args(args)
    for argv, words in ((["attach"], "attach requires the name or id"),
                        (["attach", "-l", "c"], "--latest and a container")):
        with pytest.raises(UsageError) as err:
            check_attach_args(parse(argv))
        assert words in str(err.value)
    with pytest.raises(UsageError):
        parse(["attach", "a", "b"])


# -- events: the log file ------------------------------------------------------------------------
def _write_many(runroot: str, writer: int, count: int, max_size: int) -> None:
    for i in range(count):
        write_event(Path(runroot), Event("container", "exec", time.time_ns(), id=f"{writer}",
                                         name=f"w{writer}-{i}", attributes={"n": str(i)}),
                    max_size)


class _Rt:
    """What read_events needs of a Runtime: its runroot."""

    def __init__(self, runroot: Path) -> None:
        self.runroot = runroot


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w, 300, 0))
             for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    lines = ev_mod.events_path(tmp_path).read_bytes().splitlines()
    assert len(lines) == 1200
    names = {json.loads(x)["Name"] for x in lines}  # each line whole JSON
    assert len(names) == 1200
    assert oct(ev_mod.events_path(tmp_path).stat().st_mode & 0o777) == "0o600"


def test_rotation_keeps_the_newest_half_under_concurrent_writers(tmp_path: Path) -> None:
    max_size = 20_000
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w, 400, max_size))
             for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    path = ev_mod.events_path(tmp_path)
    assert path.stat().st_size <= max_size + 2000
    evs = [Event.from_json(x) for x in path.read_bytes().splitlines()]
    assert all(e is not None for e in evs)
    assert any(e.status == "log-rotation" and e.name == str(path) for e in evs if e)
    # Nothing is lost after what a rotation dropped: each writer's events in the log
    # are the end of its sequence, without a gap.
    for w in range(3):
        seq = [int(e.name.split("-")[1]) for e in evs if e and e.name.startswith(f"w{w}-")]
        assert seq == list(range(400 - len(seq), 400)), (w, seq)
    assert any(e.name.endswith("-399") for e in evs if e)  # the newest is kept
    assert not list(path.parent.glob(".*.tmp"))


def test_reading_a_missing_log_and_stream_false(tmp_path: Path) -> None:
    rt = _Rt(tmp_path)
    assert list(read_events(rt, EventQuery(), stream=False)) == []  # type: ignore[arg-type]
    for i in range(3):
        write_event(tmp_path, Event("volume", "create", T0 + i, name=f"v{i}"), 0)
    got = [e.name for e in read_events(rt, parse_query(["volume=v1"]),  # type: ignore[arg-type]
                                       stream=False)]
    assert got == ["v1"]


def test_streaming_sees_new_events_only_and_follows_a_rotation(tmp_path: Path) -> None:
    rt = _Rt(tmp_path)
    write_event(tmp_path, Event("volume", "create", T0, name="old"), 0)
    seen: list[str] = []
    state = {"step": 0}

    def should_stop() -> bool:
        # Called whenever the reader is idle: write the next batch, then stop.
        state["step"] += 1
        if state["step"] == 1:
            write_event(tmp_path, Event("volume", "create", time.time_ns(), name="new1"), 0)
        elif state["step"] == 2:
            # A rotation by another writer: the kept part is not shown again.
            for i in range(60):
                write_event(tmp_path, Event("volume", "create", time.time_ns(),
                                            name=f"r{i}"), 3000)
        return state["step"] > 4

    for e in read_events(rt, EventQuery(), stream=True,  # type: ignore[arg-type]
                         should_stop=should_stop, poll=0.01):
        seen.append(e.name)
    assert "old" not in seen  # a stream without --since starts at the end
    assert seen[0] == "new1"
    rs = [n for n in seen if n.startswith("r")]
    assert rs == sorted(set(rs), key=lambda n: int(n[1:]))  # no duplicates, in order
    assert rs[-1] == "r59"
    assert any(n == str(ev_mod.events_path(tmp_path)) for n in seen)  # the rotation marker


def test_emit_never_fails_the_operation(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "events").write_text("a file where the events dir should be")
    write_event(ro, Event("volume", "create", T0, name="x"), 0)  # no exception
    os.chmod(ro, 0o700)


# -- following (a stand-in container: what follow_logs reads of one) -----------------------
class _Ctr:
    def __init__(self, path: Path, cid: str, name: str) -> None:
        self.log_path, self.id, self.name = path, cid, name
        self.state = "running"

    def refresh(self) -> _Ctr:
        return self


def test_follow_shows_an_unfinished_line_then_continues_it(tmp_path: Path) -> None:
    """A prompt without a newline shows after a moment; the rest of its line follows
    without a second prefix; several containers interleave as they write."""
    from ipy_oci.engine.logs import follow_logs

    a = _Ctr(_log(tmp_path / "a.log", [(1, "stdout", "F", "a1")]), "a" * 64, "ca")
    b = _Ctr(_log(tmp_path / "b.log", []), "b" * 64, "cb")
    steps = iter([
        lambda: _append(a.log_path, [(2, "stdout", "P", "name? ")]),
        lambda: time.sleep(0.05),  # no newline for a while: the piece is shown
        lambda: _append(b.log_path, [(3, "stdout", "F", "b1")]),
        lambda: _append(a.log_path, [(4, "stdout", "F", "joe")]),
        lambda: setattr(a, "state", "exited"),
        lambda: _append(b.log_path, [(5, "stdout", "F", "b2")]),
        lambda: setattr(b, "state", "exited"),
    ])

    def step() -> bool:
        next(steps, lambda: None)()
        return False

    opts = LogOptions(follow=True, timestamps=True)
    out = b"".join(format_line(x, opts, multi=True)
                   for x in follow_logs([a, b], opts, should_stop=step,  # type: ignore[list-item]
                                        poll=0.01))
    sa, sb = "a" * 12, "b" * 12
    st = [_stamp(i)[:-6] + "Z" for i in range(6)]
    assert out.decode() == (f"{sa} {st[1]} a1\n{sa} {st[2]} name? {sb} {st[3]} b1\njoe\n"
                            f"{sb} {st[5]} b2\n")


def _append(path: Path, entries: list[tuple[int, str, str, str]]) -> None:
    with open(path, "ab") as fh:
        fh.write(b"".join(f"{_stamp(t)} {s} {tag} {d}\n".encode() for t, s, tag, d in entries))

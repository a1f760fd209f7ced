"""The parsers behind ``top``, ``stats``, ``diff`` and ``cp``, on fixture files.

/proc and cgroup files are written to a tmp dir in the kernel's formats. This host
is hybrid (cgroup v1 controllers, a v2 tree without controllers), so a v2-only
host is what cannot exist here: the v2 reader is checked on v2 files made by hand.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from ipy_oci.engine.changes import Change, View, tree_changes, upper_changes
from ipy_oci.engine.gounits import go_bytes_size, go_duration, go_human_size
from ipy_oci.engine.top import DEFAULT_DESCRIPTORS, parse_descriptors
from ipy_oci.errors import UsageError
from ipy_oci.oci import cgroups, procfs
from ipy_oci.storage.copytar import CopyConflict, UnpackOptions, pack, unpack

STAT = ("4242 (my (odd) cmd) S 4200 4242 4242 34816 4242 4194560 100 0 0 0 "
        "150 50 0 0 20 5 1 0 987654 8192000 300 18446744073709551615 1 1 0 0 0 0 0 "
        "0 0 0 0 0 17 1 0 0 0 0 0")
STATUS = """Name:\tmy (odd) cmd
Umask:\t0022
State:\tS (sleeping)
Tgid:\t4242
NSpid:\t4242\t7
Pid:\t4242
PPid:\t4200
Uid:\t1000\t1001\t1001\t1001
Gid:\t100\t101\t101\t101
Groups:\t10 20
CapEff:\t00000000a80425fb
Seccomp:\t2
"""


# -- /proc ------------------------------------------------------------------------------------
def test_stat_fields_survive_parentheses_and_spaces_in_the_command() -> None:
    st = procfs.parse_stat(STAT)
    assert (st.pid, st.comm, st.state, st.ppid, st.pgrp) == (4242, "my (odd) cmd", "S",
                                                             4200, 4242)
    assert (st.tty_nr, st.utime, st.stime, st.nice, st.starttime) == (34816, 150, 50, 5,
                                                                      987654)
    assert (st.vsize, st.rss) == (8192000, 300)


def test_status_fields() -> None:
    s = procfs.parse_status(STATUS)
    assert s.uids == (1000, 1001, 1001, 1001) and s.gids == (100, 101, 101, 101)
    assert s.groups == [10, 20] and s.nspid == [4242, 7] and s.seccomp == 2
    assert s.caps["CapEff"] == 0xA80425FB


def test_cmdline_and_tty_names() -> None:
    assert procfs.parse_cmdline(b"sleep\x001000\x00") == ["sleep", "1000"]
    assert procfs.parse_cmdline(b"") == []
    assert procfs.tty_name(0) == "?"
    assert procfs.tty_name(34816) == "pts/0"  # major 136, minor 0
    assert procfs.tty_name((136 << 8) | 5) == "pts/5"
    assert procfs.tty_name((4 << 8) | 1) == "tty1"
    assert procfs.tty_name((4 << 8) | 65) == "ttyS1"


def test_read_process_and_namespace_scan_on_a_fake_proc(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "stat").write_text(STAT)
    (proc / "4242" / "status").write_text(STATUS)
    (proc / "4242" / "cmdline").write_bytes(b"sh\0-c\0sleep 9\0")
    (proc / "stat").write_text("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n")
    p = procfs.read_process(4242, proc)
    assert p is not None and p.cmdline == ["sh", "-c", "sleep 9"]
    assert procfs.read_process(9999, proc) is None  # gone: no error
    assert procfs.boot_time(proc) == 1700000000.0


def test_net_dev_sums_every_interface_but_lo() -> None:
    cols = "{:>6}:" + " {:>8}" * 16 + "\n"
    text = ("Inter-|   Receive |  Transmit\n face |bytes packets ...|bytes packets ...\n"
            + cols.format("lo", 5000, 50, *[0] * 6, 5000, 50, *[0] * 6)
            + cols.format("eth0", 1200, 10, *[0] * 6, 800, 8, *[0] * 6)
            + cols.format("eth1", 34, 1, *[0] * 6, 66, 1, *[0] * 6))
    assert procfs.net_dev(text) == (1234, 866)


# -- cgroups -----------------------------------------------------------------------------------
def test_v1_reader(tmp_path: Path) -> None:
    cpu, mem, blk, pids = (tmp_path / n for n in ("cpuacct", "memory", "blkio", "pids"))
    for d in (cpu, mem, blk, pids):
        d.mkdir()
    (cpu / "cpuacct.usage").write_text("123456789\n")
    (cpu / "cpuacct.usage_sys").write_text("23456789\n")
    (mem / "memory.usage_in_bytes").write_text("1048576\n")
    (mem / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # no limit
    (blk / "blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:16 Read 1\nTotal 12289\n")
    (pids / "pids.current").write_text("3\n")
    st = cgroups.read_v1({"cpuacct": cpu, "memory": mem, "blkio": blk, "pids": pids})
    assert (st.cpu_ns, st.cpu_system_ns) == (123456789, 23456789)
    assert (st.mem_usage, st.mem_limit) == (1048576, 0)
    assert (st.block_read, st.block_write, st.pids) == (4097, 8192, 3)
    (mem / "memory.limit_in_bytes").write_text("67108864\n")
    assert cgroups.read_v1({"memory": mem}).mem_limit == 67108864


def test_v2_reader_on_v2_files(tmp_path: Path) -> None:
    # A v2-only host cannot exist on this (hybrid) machine: these are v2's file formats.
    (tmp_path / "cpu.stat").write_text("usage_usec 250000\nuser_usec 200000\n"
                                       "system_usec 50000\nnr_periods 0\n")
    (tmp_path / "memory.current").write_text("2097152\n")
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "io.stat").write_text(
        "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n"
        "253:1 rbytes=5 wbytes=7 rios=1 wios=1 dbytes=0 dios=0\n")
    (tmp_path / "pids.current").write_text("4\n")
    st = cgroups.read_v2(tmp_path)
    assert (st.cpu_ns, st.cpu_system_ns) == (250_000_000, 50_000_000)
    assert (st.mem_usage, st.mem_limit) == (2097152, 0)
    assert (st.block_read, st.block_write, st.pids) == (1005, 2007, 4)
    (tmp_path / "memory.max").write_text("536870912\n")
    assert cgroups.read_v2(tmp_path).mem_limit == 536870912


def test_missing_files_read_as_zero(tmp_path: Path) -> None:
    assert cgroups.read_v2(tmp_path) == cgroups.CgroupStats()
    assert cgroups.read_v1({"memory": tmp_path / "gone"}) == cgroups.CgroupStats()


MOUNTINFO_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
36 31 0:33 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PROC_CGROUP_HYBRID = """\
8:pids:/ipy-oci-abc
7:blkio:/ipy-oci-abc
4:memory:/ipy-oci-abc
2:cpu,cpuacct:/ipy-oci-abc
0::/ipy-oci-abc
"""


def test_locate_hybrid_uses_the_v1_controllers() -> None:
    dirs, unified = cgroups.locate(PROC_CGROUP_HYBRID, MOUNTINFO_HYBRID)
    assert unified is None
    assert dirs == {"cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct/ipy-oci-abc"),
                    "memory": Path("/sys/fs/cgroup/memory/ipy-oci-abc"),
                    "blkio": Path("/sys/fs/cgroup/blkio/ipy-oci-abc"),
                    "pids": Path("/sys/fs/cgroup/pids/ipy-oci-abc")}


def test_locate_unified_v2_and_a_mount_root_below_the_hierarchy_root() -> None:
    # Only files can be made up here for v2-only: this host is hybrid.
    mountinfo = "30 23 0:27 /user.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
    dirs, unified = cgroups.locate("0::/user.slice/ipy-oci-abc\n", mountinfo)
    assert dirs == {} and unified == Path("/sys/fs/cgroup/ipy-oci-abc")


# -- words ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (999, "999ns"), (1_500, "1.5µs"), (823_451_711, "823.451711ms"),
    (20_386_825_206, "20.386825206s"), (3_732_497_061_672, "1h2m12.497061672s"),
    (60_000_000_000, "1m0s"), (3_600_000_000_000, "1h0m0s"), (10_000_000, "10ms"),
])
def test_go_durations(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_go_sizes() -> None:
    assert go_human_size(372700) == "372.7kB" and go_human_size(0) == "0B"
    assert go_human_size(25276194816) == "25.28GB" and go_human_size(1000) == "1kB"
    assert go_bytes_size(372736) == "364KiB" and go_bytes_size(25276194816) == "23.54GiB"


def test_top_descriptors() -> None:
    assert parse_descriptors([]) == list(DEFAULT_DESCRIPTORS)
    assert parse_descriptors(["pid,user", "%C", "args"]) == ["pid", "user", "pcpu", "args"]
    assert parse_descriptors(["%cpu", "vsz", "rss", "nice", "etime"])[0] == "pcpu"
    with pytest.raises(UsageError, match="unknown top descriptor 'bogus'.*valid "
                                         "descriptors are args, comm"):
        parse_descriptors(["pid", "bogus"])


# -- diff on fixture trees (overlay upper dir, and copy mode) -------------------------------------
def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("->"):
            p.symlink_to(text[2:])
        else:
            p.write_text(text)


def test_upper_dir_changes(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    _tree(lower, {"etc/passwd": "root", "etc/group": "g", "bin/sh": "x", "opt/a/b": "1"})
    _tree(upper, {"etc/passwd": "root\nnew", "new/file": "n", "link": "->/etc"})
    os.mknod(upper / "etc" / "group", stat.S_IFCHR | 0o600, os.makedev(0, 0))  # whiteout
    got = {str(c) for c in upper_changes(upper, View([lower]))}
    assert {"C /etc/passwd", "D /etc/group", "A /new", "A /new/file", "A /link"} <= got
    assert not any(c.endswith("/bin/sh") for c in got)


def test_copy_mode_compares_whole_trees(tmp_path: Path) -> None:
    image, root = tmp_path / "image", tmp_path / "rootfs"
    _tree(image, {"etc/passwd": "root", "etc/group": "g", "var/x": "1"})
    _tree(root, {"etc/passwd": "root+", "added": "a", "var/x": "1"})
    os.utime(root / "var" / "x", ns=(os.stat(image / "var" / "x").st_mtime_ns,) * 2)
    os.utime(root / "var", ns=(os.stat(image / "var").st_mtime_ns,) * 2)
    got = tree_changes(View([root]), View([image]))
    assert Change("C", "/etc/passwd") in got and Change("D", "/etc/group") in got
    assert Change("A", "/added") in got
    assert not any(c.path.startswith("/var") for c in got)


def test_view_hides_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    bottom, top = tmp_path / "l1", tmp_path / "l2"
    _tree(bottom, {"d/a": "1", "d/b": "2", "gone": "x"})
    (top / "d").mkdir(parents=True)
    os.mknod(top / "gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    view = View([bottom, top])
    assert view.lookup(["gone"]) is None
    assert set(view.listdir(["d"])) == {"a", "b"}
    assert view.lookup(["d", "a"]) is not None


# -- cp's tar streams on the host side ------------------------------------------------------------
def _tar(entries: list[tarfile.TarInfo], data: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for ti in entries:
            payload = data.get(ti.name)
            if payload is not None:
                ti.size = len(payload)
            tf.addfile(ti, io.BytesIO(payload) if payload is not None else None)
    buf.seek(0)
    return buf


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    return ti


def test_unpack_never_writes_through_a_symlink_the_archive_made(tmp_path: Path) -> None:
    outside, dest = tmp_path / "outside", tmp_path / "dest"
    outside.mkdir()
    dest.mkdir()
    stream = _tar([_entry("evil", tarfile.SYMTYPE, str(outside)), _entry("evil/pwned")],
                  {"evil/pwned": b"x"})
    with pytest.raises(CopyConflict, match="symlink"):
        unpack(stream, str(dest), UnpackOptions())
    assert list(outside.iterdir()) == []


def test_unpack_refuses_dotdot_and_strips_setid(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UsageError, match=r"'\.\.'"):
        unpack(_tar([_entry("../escape")], {"../escape": b"x"}), str(dest), UnpackOptions())
    assert not (tmp_path / "escape").exists()
    suid = _entry("suid")
    suid.mode = 0o4755
    unpack(_tar([suid], {"suid": b"#!"}), str(dest),
           UnpackOptions(strip_setid=True, chown=(os.getuid(), os.getgid())))
    assert stat.S_IMODE((dest / "suid").stat().st_mode) == 0o755


def test_unpack_dir_over_file_needs_overwrite(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "foo").write_text("file")
    stream = _tar([_entry("foo", tarfile.DIRTYPE), _entry("foo/in")], {"foo/in": b"in"})
    with pytest.raises(CopyConflict, match='error creating ".*/foo": file exists'):
        unpack(stream, str(dest), UnpackOptions())
    stream.seek(0)
    unpack(stream, str(dest), UnpackOptions(overwrite=True))
    assert (dest / "foo" / "in").read_text() == "in"


def test_pack_then_unpack_round_trip_with_rename_and_links(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, {"a/f": "data", "a/l": "->f"})
    os.link(src / "a" / "f", src / "a" / "hard")
    buf = io.BytesIO()
    pack(str(src / "a"), buf, "renamed")
    buf.seek(0)
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack(buf, str(dest), UnpackOptions())
    assert (dest / "renamed" / "f").read_text() == "data"
    assert os.readlink(dest / "renamed" / "l") == "f"
    assert os.stat(dest / "renamed" / "hard").st_ino == os.stat(dest / "renamed" / "f").st_ino

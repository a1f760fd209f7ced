"""Pure parts of the volume, info/version, image and network output code: ``-v``
parsing, volume options and filters, the state table (also in an old database),
Go field names, the YAML writer, image rows and ``version`` templates."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ipy_oci.engine import volumes as vols
from ipy_oci.errors import UsageError
from ipy_oci.grammar.gonames import go_name, go_view
from ipy_oci.grammar.gotemplate import TemplateError
from ipy_oci.grammar.image_text import image_rows
from ipy_oci.grammar.info_text import info_text, version_text
from ipy_oci.grammar.yamltext import dump
from ipy_oci.oci.spec_mounts import BindMount
from ipy_oci.state.records import VolumeConfig, VolumeRecord
from ipy_oci.state.store import StateStore


# -- -v parsing -------------------------------------------------------------------------------
def test_v_named_anonymous_and_host() -> None:
    m = BindMount.parse("data:/srv/data:ro,nocopy,noexec")
    assert (m.volume, m.source, m.destination, m.readonly, m.nocopy, m.options) == (
        "data", "", "/srv/data", True, True, ["noexec"])
    a = BindMount.parse("/scratch/")
    assert (a.anonymous, a.volume, a.destination) == (True, "", "/scratch")
    h = BindMount.parse("/tmp:/t:z")
    assert (h.source, h.volume, h.anonymous) == ("/tmp", "", False)
    with pytest.raises(UsageError, match="was not resolved"):
        m.to_spec()  # the engine resolves volumes before a spec is made
    m.source = "/var/lib/x/_data"
    assert m.to_spec()["source"] == "/var/lib/x/_data"


@pytest.mark.parametrize(("text", "words"), [
    ("relative", "expected"),
    ("a:b:c:d", "expected"),
    ("-bad:/x", "neither an absolute host path nor a volume name"),
    ("./x:/y", "neither an absolute host path nor a volume name"),
    ("vol:/", "cannot mount over"),
    ("vol:/x:ro,rw", "both ro and rw"),
    ("vol:/x:copy,nocopy", "both copy and nocopy"),
    ("/tmp:/x:nocopy", "named volumes only"),
    ("vol:/x:U", "unknown option 'U'"),
])
def test_v_bad(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        BindMount.parse(text)


# -- volume options and filters --------------------------------------------------------------
def test_volume_options(tmp_path: Path) -> None:
    cfg = vols._parse_options({"type": "bind", "device": str(tmp_path) + "/"}, "local")
    assert cfg.device == str(tmp_path)
    cfg = vols._parse_options({"o": "uid=10,gid=20", "nocopy": ""}, "local")
    assert (cfg.uid, cfg.gid, cfg.device) == (10, 20, "")
    cfg = vols._parse_options({"o": "bind", "device": str(tmp_path)}, "local")
    assert cfg.device == str(tmp_path)
    for opts, words in (({"type": "nfs"}, "unsupported volume type"),
                        ({"device": str(tmp_path)}, "needs type=bind"),
                        ({"type": "bind"}, "needs -o device"),
                        ({"type": "bind", "device": "rel"}, "absolute"),
                        ({"o": "gid=-1"}, "gid needs a number"),
                        ({"o": "noexec"}, "would mount a filesystem"),
                        ({"copy": "yes"}, "takes no value"),
                        ({"size": "1"}, "invalid mount option size")):
        with pytest.raises(UsageError, match=words):
            vols._parse_options(opts, "local")


def test_filter_parsing() -> None:
    assert vols.parse_filters(["label=a", "label=b=c", "name=x"]) == {
        "label": ["a", "b=c"], "name": ["x"]}
    with pytest.raises(UsageError, match="invalid volume filter"):
        vols.parse_filters(["dangling=true"], vols.PRUNE_FILTERS)
    with pytest.raises(UsageError, match="KEY=VALUE"):
        vols.parse_filters(["label"])


def test_volume_rows_and_table(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    rec = VolumeRecord(name="v", driver="local", created_at=0.5,
                       config=VolumeConfig(labels={"k": "v"}, anonymous=True))
    assert store.add_volume(rec) and not store.add_volume(rec)
    got = store.volume("v")
    assert got is not None and got.config.labels == {"k": "v"} and got.needs_copy_up
    store.set_volume_copied_up("v")
    assert store.volume("v").needs_copy_up is False  # type: ignore[union-attr]
    assert [v.name for v in store.volumes()] == ["v"]
    assert store.delete_volume("v") == [] and store.volume("v") is None
    store.close()


def test_volume_table_added_to_an_old_database(tmp_path: Path) -> None:
    """A database made before volumes existed gets the table on first use."""
    path = tmp_path / "state.db"
    StateStore(path).close()
    con = sqlite3.connect(path)
    con.execute("DROP TABLE volumes")
    con.commit()
    con.close()
    store = StateStore(path)
    assert store.volumes() == []
    assert store.add_volume(VolumeRecord("n", "local", 1.0, VolumeConfig()))
    assert store.volume_users() == {}
    store.close()


def test_volume_users_read_from_container_configs(tmp_path: Path) -> None:
    from ipy_oci.state.records import ContainerConfig, ContainerRecord

    store = StateStore(tmp_path / "state.db")
    cfg = ContainerConfig(image="x", command=["true"], mounts=[
        {"source": "/s", "destination": "/d", "volume": "vol"},
        {"source": "/h", "destination": "/e"}])
    store.add_container(ContainerRecord(id="c" * 64, name="user", image_id="i",
                                        image_name="i", created_at=1.0,
                                        state="configured", config=cfg))
    store.add_volume(VolumeRecord("vol", "local", 1.0, VolumeConfig()))
    assert store.volume_users() == {"vol": [("c" * 64, "user")]}
    assert store.delete_volume("vol") == [("c" * 64, "user")]
    assert store.volume("vol") is not None  # in use: kept
    store.close()


# -- Go names, YAML, info and version ---------------------------------------------------------
@pytest.mark.parametrize(("key", "go"), [
    ("ociRuntime", "OCIRuntime"), ("cgroupVersion", "CgroupsVersion"),
    ("network_interface", "NetworkInterface"), ("ipv6_enabled", "IPv6Enabled"),
    ("dns_enabled", "DNSEnabled"), ("ipam_options", "IPAMOptions"), ("id", "ID"),
    ("cpuUtilization", "CPUUtilization"), ("capabilities", "DefaultCapabilities"),
    ("OsArch", "OsArch"), ("graphRoot", "GraphRoot"), ("slirp4netns", "Slirp4NetNS"),
])
def test_go_names(key: str, go: str) -> None:
    assert go_name(key) == go


def test_go_view_keeps_map_keys() -> None:
    view = go_view({"labels": {"my_key": "v"}, "subnets": [{"lease_range": None}]})
    assert view == {"Labels": {"my_key": "v"}, "Subnets": [{"LeaseRange": None}]}


def test_yaml_as_podman_prints_it() -> None:
    text = dump({"host": {"arch": "amd64", "list": ["a", "b"], "empty": {}, "none": None,
                          "num": "12", "ver": "1.2.3", "multi": "a\nb", "blank": "",
                          "colon": "a: b", "yes": "true", "int": 5},
                 "objs": [{"k": 1, "j": 2}]})
    assert text == (
        "host:\n  arch: amd64\n  list:\n  - a\n  - b\n  empty: {}\n  none: null\n"
        '  num: "12"\n  ver: 1.2.3\n  multi: |-\n    a\n    b\n  blank: ""\n'
        "  colon: 'a: b'\n  \"yes\": \"true\"\n  int: 5\nobjs:\n- k: 1\n  j: 2\n")


INFO = {"host": {"ociRuntime": {"name": "runc"}, "security": {"rootless": False},
                 "cgroupVersion": "v2"},
        "store": {"graphRoot": "/r", "graphDriverName": "overlay",
                  "containerStore": {"number": 2}},
        "registries": {}, "version": {"Version": "1.0", "APIVersion": "1.0"}}


def test_info_templates_use_go_names() -> None:
    tmpl = ("{{.Host.OCIRuntime.Name}} {{.Store.GraphRoot}} {{.Store.GraphDriverName}} "
            "{{.Host.Security.Rootless}} {{.Version.Version}} {{.Host.CgroupsVersion}} "
            "{{.Store.ContainerStore.Number}}")
    assert info_text(INFO, tmpl) == "runc /r overlay false 1.0 v2 2\n"
    assert json.loads(info_text(INFO, "json")) == INFO  # podman's JSON keys
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        info_text(INFO, "{{.Host.Nope}}")


def test_version_templates_as_podman_locally() -> None:
    v = {"Version": "9.9", "APIVersion": "9.9", "PythonVersion": "3", "OsArch": "linux/x"}
    assert version_text(v, "{{.Client.Version}}") == "9.9\n"
    assert version_text(v, "{{.Server.Version}}") == "9.9\n"  # .Server. read as .
    assert version_text(v, "{{.Version}}") == "9.9\n"  # podman's old form
    assert json.loads(version_text(v, "json")) == {"Client": v}
    with pytest.raises(TemplateError):
        version_text(v, "{{.Client.Nope}}")


# -- image rows --------------------------------------------------------------------------------
def _summary(names: tuple[str, ...], created: str, size: int, ident: str) -> Any:
    img = SimpleNamespace(id=ident * 64, names=names, created=created, size=size,
                          config={"config": {"Labels": {"a": "b"}}}, repo_digests=(),
                          digest="sha256:" + ident * 64)
    return SimpleNamespace(image=img, containers=0)


def test_image_rows_sort_and_fields() -> None:
    s1 = _summary(("localhost/b:1", "a.b/c:d"), "2020-01-01T00:00:00Z", 5, "1")
    s2 = _summary((), "2021-01-01T00:00:00Z", 3, "2")
    rows = image_rows([s1, s2])
    assert [(r["Repository"], r["Tag"]) for r in rows] == [
        ("<none>", "<none>"), ("localhost/b", "1"), ("a.b/c", "d")]  # newest first
    assert [r["Repository"] for r in image_rows([s1, s2], sort="repository")] == [
        "<none>", "a.b/c", "localhost/b"]
    assert [r["ID"] for r in image_rows([s1, s2], sort="size")][0] == "2" * 12
    full = image_rows([s1], no_trunc=True)[0]
    assert full["ID"] == "sha256:" + "1" * 64 and full["Size"] == "5 B"
    assert full["CreatedAt"] == "2020-01-01 00:00:00 +0000 UTC"
    assert full["History"] == "localhost/b:1, a.b/c:d" and full["Labels"] == {"a": "b"}

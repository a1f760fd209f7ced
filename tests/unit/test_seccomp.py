"""Seccomp profile translation and --security-opt parsing (ipy_oci.oci.spec_seccomp).

The translation resolves a profile's conditional rules for one container: by its
bounding capabilities, the native architecture and the kernel version. Synthetic
profiles test each condition; the real default profile (containers-common) is
checked where the host has it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.errors import ConfigError, RuntimeMissing, UsageError
from ipy_oci.oci import spec, spec_seccomp
from ipy_oci.oci.spec import (
    DEFAULT_CAPS,
    MASKED_PATHS,
    READONLY_PATHS,
    ProcessOptions,
    SpecOptions,
    build_spec,
    merge_caps,
)
from ipy_oci.oci.spec_seccomp import (
    masked_paths,
    parse_kernel_version,
    parse_profile,
    parse_security_opts,
    seccomp_for,
)

HAS_DEFAULT = os.path.isfile(spec_seccomp.DEFAULT_PROFILE)
needs_default = pytest.mark.skipif(not HAS_DEFAULT, reason="containers-common's "
                                   "seccomp.json is not installed")


def _rule(names: list[str], action: str = "SCMP_ACT_ALLOW", **kw: Any) -> dict[str, Any]:
    return {"names": names, "action": action, **kw}


def _profile(*rules: dict[str, Any], **top: Any) -> str:
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": list(rules)}
    doc.update(top)
    return json.dumps(doc)


def _names(resolved: dict[str, Any]) -> list[str]:
    return [n for r in resolved["syscalls"] for n in r["names"]]


def _resolve(text: str, caps: list[str] | None = None, arch: str = "amd64",
             kernel: tuple[int, int] = (6, 1)) -> dict[str, Any]:
    return parse_profile(text, "test.json").resolve(caps or list(DEFAULT_CAPS), arch, kernel)


# --- conditions -----------------------------------------------------------------------


def test_includes_caps_needs_every_listed_cap() -> None:
    text = _profile(_rule(["mount"], includes={"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}),
                    _rule(["read"]))
    assert _names(_resolve(text)) == ["read"]
    assert _names(_resolve(text, [*DEFAULT_CAPS, "CAP_SYS_ADMIN"])) == ["read"]
    both = [*DEFAULT_CAPS, "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
    assert _names(_resolve(text, both)) == ["mount", "read"]


def test_excludes_caps_drops_the_rule_if_any_listed_cap_is_held() -> None:
    text = _profile(_rule(["bpf"], "SCMP_ACT_ERRNO", errnoRet=1,
                          excludes={"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}))
    assert _resolve(text)["syscalls"] == [{"names": ["bpf"], "action": "SCMP_ACT_ERRNO",
                                           "errnoRet": 1}]
    assert _resolve(text, [*DEFAULT_CAPS, "CAP_BPF"])["syscalls"] == []


def test_cap_names_in_a_profile_may_omit_the_prefix() -> None:
    text = _profile(_rule(["chroot"], includes={"caps": ["sys_chroot"]}))
    assert _names(_resolve(text)) == ["chroot"]  # CAP_SYS_CHROOT is a default cap
    assert _names(_resolve(text, ["CAP_CHOWN"])) == []


def test_arches_include_and_exclude() -> None:
    text = _profile(_rule(["arch_prctl"], includes={"arches": ["amd64", "x32"]}),
                    _rule(["cacheflush"], includes={"arches": ["arm", "arm64"]}),
                    _rule(["ioperm"], excludes={"arches": ["arm64"]}))
    assert _names(_resolve(text, arch="amd64")) == ["arch_prctl", "ioperm"]
    assert _names(_resolve(text, arch="arm64")) == ["cacheflush"]


def test_min_kernel_include_and_exclude() -> None:
    text = _profile(_rule(["clone3"], includes={"minKernel": "5.3"}),
                    _rule(["old"], excludes={"minKernel": "5.10"}))
    assert _names(_resolve(text, kernel=(5, 2))) == ["old"]
    assert _names(_resolve(text, kernel=(5, 3))) == ["clone3", "old"]
    assert _names(_resolve(text, kernel=(5, 10))) == ["clone3"]
    assert _names(_resolve(text, kernel=(6, 0))) == ["clone3"]
    assert parse_kernel_version("6.18.44-fc-v1272") == (6, 18)
    assert parse_kernel_version("3.12-1-amd64") == (3, 12)


def test_conditions_combine() -> None:
    rule = _rule(["perf_event_open"], includes={"caps": ["CAP_PERFMON"], "arches": ["amd64"],
                                                "minKernel": "5.8"})
    text = _profile(rule)
    caps = [*DEFAULT_CAPS, "CAP_PERFMON"]
    assert _names(_resolve(text, caps, "amd64", (5, 8))) == ["perf_event_open"]
    assert _names(_resolve(text, caps, "arm64", (5, 8))) == []
    assert _names(_resolve(text, caps, "amd64", (5, 7))) == []
    assert _names(_resolve(text, None, "amd64", (5, 8))) == []


def test_arch_map_picks_the_native_entry() -> None:
    arch_map = [{"architecture": "SCMP_ARCH_X86_64",
                 "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}]
    text = _profile(archMap=arch_map)
    assert _resolve(text, arch="amd64")["architectures"] == [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert _resolve(text, arch="arm64")["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "architectures" not in _resolve(text, arch="ppc64le")  # libseccomp: native only
    plain = _profile(architectures=["SCMP_ARCH_X86_64"])
    assert _resolve(plain, arch="arm64")["architectures"] == ["SCMP_ARCH_X86_64"]


def test_output_shape_errno_names_and_args() -> None:
    text = _profile(
        {"name": "personality", "action": "SCMP_ACT_ALLOW", "comment": "x",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        _rule(["socket"], "SCMP_ACT_ERRNO", errno="EINVAL",
              args=[{"index": 2, "value": 9, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]),
        defaultErrnoRet=None, defaultErrno="ENOSYS", flags=["SECCOMP_FILTER_FLAG_LOG"])
    out = _resolve(text)
    assert out["defaultAction"] == "SCMP_ACT_ERRNO" and out["defaultErrnoRet"] == 38
    assert out["flags"] == ["SECCOMP_FILTER_FLAG_LOG"]
    assert out["syscalls"] == [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 2, "value": 9, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 3}]},
    ]


@pytest.mark.parametrize(("doc", "words"), [
    ("{", "not valid JSON"),
    ("[]", "must be a JSON object"),
    ("{}", "seccomp=unconfined"),
    (_profile(defaultAction="SCMP_ACT_MAYBE"), "defaultAction 'SCMP_ACT_MAYBE'"),
    (_profile(_rule(["read"], "SCMP_ACT_NOPE")), r"syscalls\[0\]: action 'SCMP_ACT_NOPE'"),
    (_profile(_rule([])), "names no syscall"),
    (_profile({"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}), "both given"),
    (_profile(_rule(["read"], args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}])),
     "index must be 0 to 5"),
    (_profile(_rule(["read"], args=[{"index": 0, "value": 1, "op": "EQ"}])), "operator"),
    (_profile(_rule(["read"], errnoRet=1)), "only goes with SCMP_ACT_ERRNO"),
    (_profile(_rule(["read"], "SCMP_ACT_ERRNO", errno="EWHAT")), "unknown errno name"),
    (_profile(_rule(["read"], includes={"minKernel": "new"})), "not a kernel version"),
    (_profile(_rule(["read"], includes={"kernel": "5.1"})), "unknown key 'kernel'"),
    (_profile(architectures=["SCMP_ARCH_X86_64"],
              archMap=[{"architecture": "SCMP_ARCH_X86_64"}]), "both given"),
    (_profile(architectures=["x86_64"]), "unknown architecture 'x86_64'"),
    (_profile(flags=["SECCOMP_FILTER_FLAG_NOPE"]), "unknown flag"),
    (_profile(_rule(["read"], "SCMP_ACT_NOTIFY")), "listenerPath"),
])
def test_bad_profiles_name_file_and_defect(doc: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as exc:
        parse_profile(doc, "/x/prof.json")
    assert "/x/prof.json" in str(exc.value)


# --- the default profile (containers-common) -------------------------------------------


@needs_default
def test_default_profile_by_capabilities() -> None:
    default = seccomp_for(None, merge_caps([], []))
    assert default is not None
    assert default["defaultAction"] == "SCMP_ACT_ERRNO" and default["defaultErrnoRet"] == 38

    def action(sc: dict[str, Any], name: str) -> str:
        rules = [r for r in sc["syscalls"] if name in r["names"] and not r.get("args")]
        return rules[0]["action"] if rules else "default"

    for name in ("open_by_handle_at", "bpf", "perf_event_open", "kcmp"):
        assert action(default, name) == "SCMP_ACT_ERRNO", name
    assert action(default, "add_key") == "default"  # not listed: ENOSYS
    assert action(default, "io_uring_setup") == "default"
    assert action(default, "chroot") == "SCMP_ACT_ALLOW"  # CAP_SYS_CHROOT is a default cap
    admin = seccomp_for(None, merge_caps(["SYS_ADMIN", "DAC_READ_SEARCH"], []))
    assert admin is not None
    assert action(admin, "bpf") == "SCMP_ACT_ALLOW"
    assert action(admin, "open_by_handle_at") == "SCMP_ACT_ALLOW"
    if spec_seccomp.native_arch() == "amd64":
        assert default["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


@needs_default
def test_default_is_cached_but_each_caller_gets_its_own_copy() -> None:
    caps = merge_caps([], [])
    a = seccomp_for(None, caps)
    assert a is not None
    a["syscalls"].clear()
    b = seccomp_for(None, caps)
    assert b is not None and b["syscalls"]


def test_unconfined_and_privileged_have_no_filter(tmp_path: Path) -> None:
    assert seccomp_for("unconfined", DEFAULT_CAPS) is None
    assert seccomp_for(None, DEFAULT_CAPS, privileged=True) is None
    assert seccomp_for(str(tmp_path / "custom.json"), DEFAULT_CAPS, privileged=True) is None


def test_missing_default_profile_fails_closed(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setattr(spec_seccomp, "DEFAULT_PROFILE", str(tmp_path / "none.json"))
    with pytest.raises(RuntimeMissing, match="golang-github-containers-common") as exc:
        seccomp_for(None, DEFAULT_CAPS)
    assert "seccomp=unconfined" in str(exc.value)
    with pytest.raises(UsageError, match="does not exist"):
        seccomp_for(str(tmp_path / "custom.json"), DEFAULT_CAPS)
    assert seccomp_for("unconfined", DEFAULT_CAPS) is None


def test_custom_profile_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(_profile(_rule(["read"])))
    first = seccomp_for(str(path), DEFAULT_CAPS)
    assert first is not None and _names(first) == ["read"]
    path.write_text(_profile(_rule(["read", "write"])))
    os.utime(path, ns=(1, 1))  # a different mtime whatever the clock's resolution
    second = seccomp_for(str(path), DEFAULT_CAPS)
    assert second is not None and _names(second) == ["read", "write"]


# --- build_spec ---------------------------------------------------------------------


def _spec(tmp_path: Path, privileged: bool = False, cap_add: list[str] | None = None,
          **kw: Any) -> dict[str, Any]:
    proc = ProcessOptions(args=["sh"], env=[], privileged=privileged, cap_add=cap_add or [])
    return build_spec(SpecOptions(rootfs=str(tmp_path), process=proc, hostname="h", **kw))


def test_build_spec_seccomp_follows_the_container_caps(tmp_path: Path) -> None:
    custom = tmp_path / "p.json"
    custom.write_text(_profile(_rule(["mount"], includes={"caps": ["CAP_SYS_ADMIN"]}),
                               _rule(["read"])))
    plain = _spec(tmp_path, seccomp=str(custom))["linux"]["seccomp"]
    admin = _spec(tmp_path, cap_add=["SYS_ADMIN"], seccomp=str(custom))["linux"]["seccomp"]
    assert _names(plain) == ["read"] and _names(admin) == ["mount", "read"]
    assert "seccomp" not in _spec(tmp_path, seccomp="unconfined")["linux"]
    assert "seccomp" not in _spec(tmp_path, privileged=True, seccomp=str(custom))["linux"]


def test_build_spec_masks_pids_and_apparmor(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    linux = _spec(tmp_path, seccomp="unconfined", mask=["/proc/cpuinfo"],
                  unmask=["/proc/kcore"])["linux"]
    assert "/proc/kcore" not in linux["maskedPaths"] and "/proc/cpuinfo" in linux["maskedPaths"]
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    assert linux["resources"]["pids"] == {"limit": 2048}
    everything = _spec(tmp_path, seccomp="unconfined", unmask=["ALL"])["linux"]
    assert "maskedPaths" not in everything and "readonlyPaths" not in everything
    unlimited = _spec(tmp_path, seccomp="unconfined", pids_limit=0)["linux"]["resources"]
    assert unlimited["pids"] == {"limit": -1}
    proc = _spec(tmp_path, seccomp="unconfined", apparmor="myprof")["process"]
    assert "apparmorProfile" not in proc or spec_seccomp.apparmor_enabled()
    monkeypatch.setattr(spec, "apparmor_enabled", lambda: True)
    proc = _spec(tmp_path, seccomp="unconfined", apparmor="myprof")["process"]
    assert proc["apparmorProfile"] == "myprof"
    proc = _spec(tmp_path, seccomp="unconfined", apparmor="unconfined")["process"]
    assert "apparmorProfile" not in proc


# --- masked paths ---------------------------------------------------------------------


def test_masked_paths_like_podman() -> None:
    assert masked_paths(False, [], []) == (list(MASKED_PATHS), list(READONLY_PATHS))
    masked, readonly = masked_paths(False, ["/proc/foo"], ["/proc/kcore"])
    assert masked == [p for p in MASKED_PATHS if p != "/proc/kcore"] + ["/proc/foo"]
    assert readonly == list(READONLY_PATHS)
    assert masked_paths(False, [], ["ALL"]) == ([], [])
    assert masked_paths(True, ["/proc/foo"], []) == (["/proc/foo"], [])
    # Go's filepath.Match: * does not cross '/'
    masked, readonly = masked_paths(False, [], ["/proc/*"])
    assert masked == ["/sys/firmware", "/sys/fs/selinux", "/sys/dev/block"] and readonly == []
    masked, _ = masked_paths(False, [], ["/sys/*"])
    assert "/sys/fs/selinux" in masked and "/sys/firmware" not in masked
    masked, _ = masked_paths(False, [], ["/proc/timer_[ls]*"])
    assert "/proc/timer_list" not in masked and "/proc/timer_stats" not in masked


# --- --security-opt -----------------------------------------------------------------


def test_security_opts_parse_and_normalize(tmp_path: Path) -> None:
    prof = tmp_path / "p.json"
    prof.write_text(_profile(_rule(["read"])))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        opts = parse_security_opts(["seccomp=p.json", "no-new-privileges",
                                    "mask=/proc/a:/proc/b", "mask=/proc/a", "unmask=/proc/kcore",
                                    "unmask=all", "label=disable", "label=level:s0"])
    finally:
        os.chdir(cwd)
    assert opts.seccomp == str(prof)  # made absolute: init may run from anywhere
    assert opts.no_new_privileges is True
    assert opts.mask == ["/proc/a", "/proc/b"] and opts.unmask == ["/proc/kcore", "ALL"]
    assert opts.labels == ["disable", "level:s0"]
    assert len(opts.notes) == 1 and "SELinux is not used" in opts.notes[0]
    norm = opts.normalized()
    assert parse_security_opts(norm, check_files=False).normalized() == norm
    assert opts.inspect() == ["no-new-privileges", "label=disable,label=level:s0",
                              f"seccomp={prof}"]
    assert parse_security_opts(["no-new-privileges", "no-new-privileges=false"]
                               ).no_new_privileges is False
    assert parse_security_opts(["no-new-privileges=TRUE"]).inspect() == ["no-new-privileges"]
    assert parse_security_opts(["seccomp=unconfined"]).inspect() == ["seccomp=unconfined"]


def test_apparmor_notes_when_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_seccomp, "apparmor_enabled", lambda: False)
    opts = parse_security_opts(["apparmor=myprof"])
    assert opts.apparmor == "myprof" and opts.inspect() == ["apparmor=myprof"]
    assert "AppArmor is not enabled" in opts.notes[0] and "'myprof'" in opts.notes[0]
    assert "AppArmor is not enabled" in parse_security_opts(["apparmor=unconfined"]).notes[0]
    monkeypatch.setattr(spec_seccomp, "apparmor_enabled", lambda: True)
    assert parse_security_opts(["apparmor=myprof"]).notes == []


def test_security_opts_colon_form() -> None:
    # Docker's deprecated KEY:VALUE form, which podman still reads when there is no '='.
    assert parse_security_opts(["no-new-privileges:true"]).no_new_privileges is True
    assert parse_security_opts(["no-new-privileges:false"]).no_new_privileges is False
    assert parse_security_opts(["seccomp:unconfined"]).inspect() == ["seccomp=unconfined"]
    # With an '=', the ':' belongs to the value.
    assert parse_security_opts(["label=level:s0"]).labels == ["level:s0"]


@pytest.mark.parametrize(("opt", "words"), [
    ("foo=bar", "unknown option; use seccomp="),
    ("foo:bar", "unknown option; use seccomp="),
    ("seccomp", "seccomp=unconfined, or seccomp=PATH"),
    ("seccomp=/nonexistent/profile.json", "does not exist"),
    ("no-new-privileges=maybe", "no-new-privileges=false"),
    ("mask=", "absolute paths"),
    ("mask=proc/kcore", "not an absolute path"),
    ("unmask=/proc/[", "bad pattern"),
    ("unmask=kcore", "or ALL"),
    ("label=bogus", "label=disable"),
    ("label=type:", "label=KEY:VALUE"),
    ("apparmor=", "apparmor=unconfined"),
])
def test_bad_security_opts(opt: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as exc:
        parse_security_opts([opt])
    assert f"invalid --security-opt {opt!r}" in str(exc.value)
    assert exc.value.exit_code == 125


def test_bad_profile_file_is_a_bad_security_opt(tmp_path: Path) -> None:
    prof = tmp_path / "bad.json"
    prof.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"]}]}')
    with pytest.raises(UsageError, match=r"invalid --security-opt 'seccomp=.*bad.json'.*action"):
        parse_security_opts([f"seccomp={prof}"])

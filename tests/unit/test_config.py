"""Every engine tunable can be set in the TOML file, bad values are named, and the
Jupyter server extension mirrors each one as a traitlet."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipy_oci.config import TUNABLES, Config
from ipy_oci.errors import ConfigError


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Config:
    path = tmp_path / "ipy-oci.toml"
    path.write_text(text)
    monkeypatch.setenv("IPY_OCI_CONFIG", str(path))
    return Config.load(str(tmp_path / "root"), str(tmp_path / "run"))


def test_every_tunable_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "".join(f"{name} = {i + 3}\n" for i, name in enumerate(TUNABLES))
    cfg = _load(tmp_path, monkeypatch, text)
    for i, name in enumerate(TUNABLES):
        assert getattr(cfg, name) == i + 3, name


def test_engine_table_works_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _load(tmp_path, monkeypatch, "[engine]\nexec_stop_timeout = 0.5\n")
    assert cfg.exec_stop_timeout == 0.5


@pytest.mark.parametrize("value", ['"soon"', "-1", "true", "[1]"])
def test_bad_tunable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              value: str) -> None:
    with pytest.raises(ConfigError, match="exec_prune_age") as err:
        _load(tmp_path, monkeypatch, f"exec_prune_age = {value}\n")
    assert str(tmp_path / "ipy-oci.toml") in str(err.value)
    assert err.value.exit_code == 125


def test_whole_seconds_for_delays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="whole number"):
        _load(tmp_path, monkeypatch, "exec_exit_delay = 1.5\n")


def test_unreadable_toml_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        _load(tmp_path, monkeypatch, "exec_prune_age = = 3\n")


def test_server_mirrors_every_tunable() -> None:
    from ipy_oci.server.app import IpyOciApp

    traits = IpyOciApp.class_traits(config=True)
    for name in TUNABLES:
        assert name in traits, name
        assert traits[name].default_value is None  # unset: the engine's own value

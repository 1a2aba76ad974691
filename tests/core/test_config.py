"""Settings: explicit arguments, then ``SATCHEL_*`` environment, then defaults; read on load."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from satchel.config import Settings
from satchel.errors import ConfigError

KIB = 1024
MIB = 1024 * KIB
INT_SETTINGS = ["inline_max", "chunk_size", "io_threads"]


def env_name(setting: str) -> str:
    return f"SATCHEL_{setting.upper()}"


def test_defaults(tmp_path: Path) -> None:
    s = Settings.load(environ={}, home=str(tmp_path))
    assert s.home == tmp_path
    assert s.store is None
    assert s.index is None
    assert s.inline_max == 16 * KIB
    assert s.chunk_size == 8 * MIB
    assert s.io_threads == 32


def test_default_home_is_dot_satchel_in_the_user_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings.load(environ={}).home == tmp_path / ".satchel"


def test_home_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings.load(environ={}, home="~/stores/a").home == tmp_path / "stores" / "a"
    assert Settings.load(environ={"SATCHEL_HOME": "~/b"}).home == tmp_path / "b"


def test_environment_beats_defaults(tmp_path: Path) -> None:
    environ = {
        "SATCHEL_HOME": str(tmp_path / "h"),
        "SATCHEL_STORE": "memory://env",
        "SATCHEL_INDEX": f"sqlite:///{tmp_path / 'i.db'}",
        "SATCHEL_INLINE_MAX": "100",
        "SATCHEL_CHUNK_SIZE": str(128 * KIB),
        "SATCHEL_IO_THREADS": "3",
    }
    s = Settings.load(environ=environ)
    assert s == Settings(
        home=tmp_path / "h",
        store="memory://env",
        index=f"sqlite:///{tmp_path / 'i.db'}",
        inline_max=100,
        chunk_size=128 * KIB,
        io_threads=3,
    )


def test_arguments_beat_environment(tmp_path: Path) -> None:
    environ = {
        "SATCHEL_HOME": str(tmp_path / "env-home"),
        "SATCHEL_STORE": "memory://env",
        "SATCHEL_INDEX": "sqlite:///env.db",
        "SATCHEL_INLINE_MAX": "100",
        "SATCHEL_CHUNK_SIZE": str(128 * KIB),
        "SATCHEL_IO_THREADS": "3",
    }
    s = Settings.load(
        environ=environ,
        home=str(tmp_path / "arg-home"),
        store="memory://arg",
        index="sqlite:///arg.db",
        inline_max=200,
        chunk_size=256 * KIB,
        io_threads=5,
    )
    assert s == Settings(
        home=tmp_path / "arg-home",
        store="memory://arg",
        index="sqlite:///arg.db",
        inline_max=200,
        chunk_size=256 * KIB,
        io_threads=5,
    )


def test_none_arguments_fall_through_to_environment(tmp_path: Path) -> None:
    s = Settings.load(
        environ={"SATCHEL_STORE": "memory://env", "SATCHEL_IO_THREADS": "7"},
        home=str(tmp_path),
        store=None,
        io_threads=None,
    )
    assert (s.store, s.io_threads) == ("memory://env", 7)


def test_empty_environment_values_are_ignored(tmp_path: Path) -> None:
    s = Settings.load(
        environ={"SATCHEL_STORE": "", "SATCHEL_INLINE_MAX": "", "SATCHEL_HOME": str(tmp_path)}
    )
    assert (s.store, s.inline_max, s.home) == (None, 16 * KIB, tmp_path)


def test_unrelated_environment_is_ignored(tmp_path: Path) -> None:
    s = Settings.load(
        environ={"SATCHEL": "x", "SATCHEL_UNKNOWN": "y", "satchel_store": "lower"},
        home=str(tmp_path),
    )
    assert s == Settings.load(environ={}, home=str(tmp_path))


def test_process_environment_is_read_when_environ_is_not_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path))
    monkeypatch.setenv("SATCHEL_IO_THREADS", "9")
    monkeypatch.delenv("SATCHEL_STORE", raising=False)
    s = Settings.load()
    assert (s.home, s.io_threads) == (tmp_path, 9)
    monkeypatch.setenv("SATCHEL_IO_THREADS", "11")
    assert Settings.load().io_threads == 11  # read on every load, not cached


@pytest.mark.parametrize("setting", INT_SETTINGS)
@pytest.mark.parametrize("raw", ["lots", "1.5", "0x10", "1e3", "12 MiB"])
def test_bad_integer_names_the_variable(tmp_path: Path, setting: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=env_name(setting)):
        Settings.load(environ={env_name(setting): raw}, home=str(tmp_path))


@pytest.mark.parametrize(
    ("setting", "raw"),
    [("inline_max", "-1"), ("io_threads", "0"), ("io_threads", "-4"), ("chunk_size", "0")],
)
def test_out_of_range_integer_names_the_variable(tmp_path: Path, setting: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=setting.upper()):
        Settings.load(environ={env_name(setting): raw}, home=str(tmp_path))


def test_bad_integer_argument_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="IO_THREADS"):
        Settings.load(environ={}, home=str(tmp_path), io_threads="many")


@pytest.mark.parametrize("size", [1, 4 * KIB, 64 * KIB - 1, 256 * MIB + 1, 1024 * MIB])
def test_chunk_size_out_of_range_refused(tmp_path: Path, size: int) -> None:
    with pytest.raises(ConfigError, match="chunk_size"):
        Settings.load(environ={}, home=str(tmp_path), chunk_size=size)
    with pytest.raises(ConfigError, match="chunk_size"):
        Settings.load(environ={"SATCHEL_CHUNK_SIZE": str(size)}, home=str(tmp_path))


@pytest.mark.parametrize("size", [64 * KIB, 1 * MIB, 256 * MIB])
def test_chunk_size_bounds_accepted(tmp_path: Path, size: int) -> None:
    assert Settings.load(environ={}, home=str(tmp_path), chunk_size=size).chunk_size == size


def test_inline_max_bounds(tmp_path: Path) -> None:
    assert Settings.load(environ={}, home=str(tmp_path), inline_max=0).inline_max == 0
    assert Settings.load(environ={}, home=str(tmp_path), inline_max=MIB).inline_max == MIB
    with pytest.raises(ConfigError, match="inline_max"):
        Settings.load(environ={}, home=str(tmp_path), inline_max=MIB + 1)


@pytest.mark.parametrize("name", ["bogus", "chunksize", "HOME", "Store"])
def test_unknown_override_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.load(environ={}, home=str(tmp_path), **{name: "x"})


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = Settings.load(environ={}, home=str(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.inline_max = 1  # type: ignore[misc]


def test_loading_does_not_change_the_environment(tmp_path: Path) -> None:
    before = dict(os.environ)
    environ = {"SATCHEL_IO_THREADS": "4"}
    Settings.load(environ=environ, home=str(tmp_path))
    assert environ == {"SATCHEL_IO_THREADS": "4"}
    assert dict(os.environ) == before


def test_nothing_is_read_at_import_time(tmp_path: Path) -> None:
    """Importing satchel with a broken environment works; only ``Settings.load`` complains."""
    script = textwrap.dedent(
        """
        import os
        import satchel, satchel.config, satchel.context, satchel.store
        import satchel.index.sqlite, satchel.storage.local, satchel.storage.memory
        from satchel.config import Settings
        from satchel.errors import ConfigError

        print("imported")
        try:
            Settings.load()
        except ConfigError as exc:
            print("load:", exc)
        os.environ["SATCHEL_CHUNK_SIZE"] = str(128 * 1024)
        print("later:", Settings.load().chunk_size)
        """
    )
    env = {
        **os.environ,
        "SATCHEL_CHUNK_SIZE": "not-a-number",
        "SATCHEL_HOME": str(tmp_path / "does-not-exist"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "imported"
    assert lines[1].startswith("load:")
    assert "SATCHEL_CHUNK_SIZE" in lines[1]
    assert lines[2] == f"later: {128 * 1024}"
    assert not (tmp_path / "does-not-exist").exists()

"""Settings: defaults, the generated secret key, validation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from billabled.config import ConfigError, Settings


def test_defaults_put_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/billabled.db"
    assert settings.redis_url is None
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8000, "info")


def test_environment_variables_use_the_billabled_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BILLABLED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BILLABLED_PORT", "9123")
    monkeypatch.setenv("BILLABLED_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("BILLABLED_REDIS_URL", "redis://127.0.0.1:6379/3")
    settings = Settings()
    assert settings.port == 9123
    assert settings.log_level == "debug"
    assert settings.redis_url == "redis://127.0.0.1:6379/3"


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "d").resolved_secret_key
    second = Settings(data_dir=tmp_path / "d").resolved_secret_key
    assert first == second
    assert len(first) >= 32
    assert os.stat(tmp_path / "d" / "secret_key").st_mode & 0o777 == 0o600


def test_configured_secret_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40)
    assert settings.resolved_secret_key == b"k" * 40
    assert not (tmp_path / "secret_key").exists()


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        _ = Settings(data_dir=tmp_path, secret_key="short").resolved_secret_key


def test_an_empty_or_short_secret_key_file_is_refused(tmp_path: Path) -> None:
    # An empty file (a crash between creating and writing it) was used as the key: every
    # process's pepper was then a public constant.
    (tmp_path / "secret_key").write_bytes(b"\n")
    with pytest.raises(ConfigError, match="shorter than 32"):
        _ = Settings(data_dir=tmp_path).resolved_secret_key


def test_processes_starting_together_share_one_whole_secret_key(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from billabled.config import Settings\n"
        "sys.stdout.write(Settings(data_dir=Path(sys.argv[1])).resolved_secret_key.decode())\n"
    )
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "d")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(8)
    ]
    keys = {starter.communicate(timeout=60)[0] for starter in starters}
    assert len(keys) == 1
    key = keys.pop()
    assert len(key) >= 32
    assert (tmp_path / "d" / "secret_key").read_bytes().strip() == key
    assert os.listdir(tmp_path / "d") == ["secret_key"]  # no drafts left behind


def test_a_malformed_redis_url_is_refused_up_front(tmp_path: Path) -> None:
    # It passed, and `serve` printed that it was serving, then failed with a traceback.
    with pytest.raises(ValidationError, match="redis://"):
        Settings(data_dir=tmp_path, redis_url="localhost:6379")

"""Where the data home comes from: --home, then $CARSCOUT_HOME, then carscout.toml, then ./data."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import load_settings


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().home == tmp_path / "data"
    (tmp_path / "carscout.toml").write_text('home = "from-file"\n')
    assert load_settings().home == tmp_path / "from-file"
    monkeypatch.setenv("CARSCOUT_HOME", str(tmp_path / "from-env"))
    assert load_settings().home == tmp_path / "from-env"
    assert load_settings(home=tmp_path / "flag").home == tmp_path / "flag"
    settings = load_settings(home=tmp_path / "flag")
    assert settings.catalog_url == f"sqlite:///{tmp_path / 'flag' / 'catalog.sqlite'}"
    assert settings.store_dir == tmp_path / "flag" / "store"


def test_config_file_limits_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "carscout.toml"
    config.write_text("[intake]\nmax_bytes = 1000\n")
    assert load_settings().intake.max_bytes == 1000
    config.write_text("hoem = 'typo'\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings()
    config.write_text("[intake]\nmax_bytes = -1\n")
    with pytest.raises(ConfigError, match="positive integer"):
        load_settings()
    config.write_text("home = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()

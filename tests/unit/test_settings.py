"""Settings: the signing secret, the TOML file, the environment, the data directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import finales
from finales.errors import ConfigurationError
from finales.settings import MIN_SECRET_CHARS, SECRET_FILE, Settings, default_home, load_settings

LONG_SECRET = "s" * MIN_SECRET_CHARS


def test_signing_secret_is_created_on_first_use_with_mode_0600(tmp_path: Path) -> None:
    home = tmp_path / "not-yet" / "home"
    settings = Settings(home=home)
    secret = settings.signing_secret()
    path = home / SECRET_FILE
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= MIN_SECRET_CHARS
    assert path.read_text().strip() == secret


def test_signing_secret_is_stable_across_calls_and_instances(tmp_path: Path) -> None:
    first = Settings(home=tmp_path).signing_secret()
    assert Settings(home=tmp_path).signing_secret() == first
    assert Settings(home=tmp_path / "other").signing_secret() != first


def test_signing_secret_from_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINALES_SECRET_KEY", LONG_SECRET)
    assert Settings(home=tmp_path).signing_secret() == LONG_SECRET
    assert not (tmp_path / SECRET_FILE).exists()


@pytest.mark.parametrize("value", ["", "hunter2-hunter2", "x" * (MIN_SECRET_CHARS - 1)])
def test_short_secret_from_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FINALES_SECRET_KEY", value)
    with pytest.raises(ConfigurationError) as caught:
        Settings(home=tmp_path).signing_secret()
    assert "FINALES_SECRET_KEY" in caught.value.detail
    if value:
        assert value not in caught.value.detail  # the message never echoes the secret


@pytest.mark.parametrize("content", ["", "\n", "   \n", "short\n", "y" * (MIN_SECRET_CHARS - 1)])
def test_short_secret_file_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / SECRET_FILE).write_text(content)
    with pytest.raises(ConfigurationError) as caught:
        Settings(home=tmp_path).signing_secret()
    assert SECRET_FILE in caught.value.detail
    assert (tmp_path / SECRET_FILE).read_text() == content  # never silently replaced


def test_existing_secret_file_is_used(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text(LONG_SECRET + "\n")
    assert Settings(home=tmp_path).signing_secret() == LONG_SECRET


def test_default_home_is_outside_the_package() -> None:
    package_dir = Path(finales.__file__).resolve().parent
    home = default_home().resolve()
    assert not home.is_relative_to(package_dir)
    assert not home.is_relative_to(package_dir.parent)  # not in src/ (or site-packages) either
    assert Settings().home == default_home()


def test_default_database_is_sqlite_in_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / 'finales.db'}"
    assert settings.is_sqlite
    pg = Settings(home=tmp_path, database_url="postgresql+psycopg://u@h/db")
    assert pg.resolved_database_url() == "postgresql+psycopg://u@h/db"
    assert not pg.is_sqlite


def test_environment_variables_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINALES_HOME", str(tmp_path))
    monkeypatch.setenv("FINALES_TOKEN_TTL_S", "120")
    settings = load_settings()
    assert settings.home == tmp_path
    assert settings.token_ttl_s == 120


# ------------------------------------------------------------------------------ TOML file


def test_toml_file_with_top_level_keys(tmp_path: Path) -> None:
    config = tmp_path / "finales.toml"
    config.write_text(f'home = "{tmp_path / "data"}"\ntoken_ttl_s = 60\nmax_lease_s = 90.5\n')
    settings = load_settings(config=config)
    assert settings.home == tmp_path / "data"
    assert settings.token_ttl_s == 60
    assert settings.max_lease_s == 90.5


def test_toml_file_with_a_finales_table(tmp_path: Path) -> None:
    config = tmp_path / "finales.toml"
    config.write_text('[finales]\ndatabase_url = "sqlite:///x.db"\npage_max = 7\n')
    settings = load_settings(config=config)
    assert settings.database_url == "sqlite:///x.db"
    assert settings.page_max == 7


def test_environment_wins_over_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "finales.toml"
    config.write_text("[finales]\ntoken_ttl_s = 60\npage_max = 7\n")
    monkeypatch.setenv("FINALES_TOKEN_TTL_S", "900")
    settings = load_settings(config=config)
    assert settings.token_ttl_s == 900
    assert settings.page_max == 7  # not in the environment: the file applies


def test_config_file_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("page_max = 11\n")
    monkeypatch.setenv("FINALES_CONFIG", str(config))
    assert load_settings().page_max == 11


def test_broken_toml_file_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "finales.toml"
    config.write_text("[finales\ntoken_ttl_s = = 3\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(config=config)
    assert str(config) in caught.value.detail


def test_missing_toml_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_settings(config=tmp_path / "absent.toml")


@pytest.mark.parametrize("line", ['token_ttl_s = "soon"', "page_max = 0"])
def test_invalid_value_in_the_toml_file_is_a_configuration_error(tmp_path: Path, line: str) -> None:
    # The CLI turns FinalesError into a one-line message; a pydantic ValidationError escaping
    # load_settings would end in a traceback instead.
    config = tmp_path / "finales.toml"
    config.write_text(line + "\n")
    with pytest.raises(ConfigurationError):
        load_settings(config=config)

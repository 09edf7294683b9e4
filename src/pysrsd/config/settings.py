"""``Settings``: every setting of pysrsd, validated once at start, frozen, passed down.

Sources, highest first (docs/settings.md): command line (given to ``load`` by ``cli``) >
``PYSRSD_*`` environment > TOML config file > defaults. The TOML file uses the same names as
the long flags, with ``-`` or ``_`` (``secrets-file = "/etc/pysrsd/secrets"``).
List settings (``listen``, ``socketmap``) read from the environment are separated by commas or
white space (``PYSRSD_LISTEN="127.0.0.1,::1"``).
``load`` turns every mistake into a ``ConfigError`` naming the value's source (flag, variable,
or config file and line) and the key, with a near-miss suggestion (``config_errors``).
"""

from __future__ import annotations

import datetime
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pysrsd.config import config_errors
from pysrsd.config.database_uri import display
from pysrsd.config.files import read_config
from pysrsd.errors import ConfigError

DEFAULT_CONFIG = Path("/etc/pysrsd/pysrsd.toml")
MAX_CONFIG_FILE = 1 << 20
# A domain name: labels of letters, digits, '-' and '_' (or UTF-8), no empty label.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_\-\u0080-\U0010ffff]{1,63}$")
Port = Annotated[int, Field(ge=0, le=65535)]
StrList = Annotated[list[str], NoDecode]


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value) if item]
    return value


class _TomlSource(PydanticBaseSettingsSource):
    """The config file: a flat TOML table whose keys are the long flag names."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._values: dict[str, Any] = {}
        if path is not None:
            data = read_config(path, MAX_CONFIG_FILE, "config")  # StrictModes, no FIFO
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError(f"config: {path} is not UTF-8") from None
            try:
                raw = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(config_errors.toml_syntax(path, str(exc), text)) from None
            lines = config_errors.key_lines(text)
            for key in raw:
                name = key.replace("-", "_")
                if name not in settings_cls.model_fields:
                    line = lines.get(name)
                    fields = settings_cls.model_fields
                    raise ConfigError(config_errors.unknown_key(path, line, key, fields))
            self._values = {key.replace("-", "_"): value for key, value in raw.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PYSRSD_", frozen=True, extra="forbid", case_sensitive=False
    )

    domain: str
    secrets_file: Path
    exclude_file: Path | None = None
    listen: StrList = ["127.0.0.1"]
    forward_port: Port = 10001
    reverse_port: Port = 10002
    separator: Literal["=", "+", "-"] = "="
    hash_length: int = Field(4, ge=1, le=27)
    hash_min: int = Field(4, ge=1, le=27)
    max_age: int = Field(21, ge=1, le=1000)
    always_rewrite: bool = False
    reverse_any_domain: bool = False
    idle_timeout: float = Field(300.0, gt=0, le=86400)
    max_connections: int = Field(1000, ge=1, le=1_000_000)
    max_line: int = Field(16384, ge=256, le=1 << 20)
    user: str | None = None
    group: str | None = None
    allow_root: bool = False
    pidfile: Path | None = None
    socketmap: StrList = Field(default=[], validate_default=True)  # checked against listen
    socketmap_mode: int = Field(0o666, ge=0, le=0o777)
    hash_input: Literal["separated", "concatenated"] = "separated"
    accept_concatenated_before: datetime.date | None = None
    hash_alphabet: Literal["base64url", "base64"] = "base64url"
    original_envelope: Literal["embedded", "database", "auto"] = "embedded"
    envelope_database: str = "sqlite:/var/lib/pysrsd/envelopes.sqlite"
    envelope_database_password_file: Path | None = None
    metrics: str | None = None
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["kv", "json"] = "kv"
    config: Path | None = None

    @field_validator("listen", "socketmap", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("envelope_database")
    @classmethod
    def _envelope_database(cls, value: str) -> str:
        if value.startswith("sqlite:") and len(value) > len("sqlite:"):
            return value
        if value.startswith("redis://") and len(value) > len("redis://"):
            return value
        shown = display(value)  # a malformed URI may still hold a password
        raise ValueError(f"{shown!r}: expected sqlite:PATH or redis://HOST:PORT[/DB]")

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: str | None) -> str | None:
        if value is None:
            return value
        kind, _, rest = value.partition(":")
        host, _, port = rest.rpartition(":")
        if kind != "inet" or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{value!r}: expected inet:HOST:PORT")
        return value

    @field_validator("hash_input", "hash_alphabet", "original_envelope", mode="before")
    @classmethod
    def _lower_choice(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        name = value[:-1] if value.endswith(".") else value
        if not name or len(name.encode()) > 253:
            raise ValueError(f"{value!r} is not a domain name")
        for label in name.split("."):
            if not _LABEL.match(label):
                raise ValueError(f"{value!r} is not a domain name (label {label!r})")
        return name

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: list[str]) -> list[str]:
        # An empty host would bind every interface: say "0.0.0.0" or "::" for that.
        if not value or "" in value:
            raise ValueError("empty address (every interface is 0.0.0.0 or ::; none is 'none')")
        if "none" in (host.lower() for host in value):
            if len(value) > 1:
                raise ValueError("'none' cannot be combined with addresses")
            return []  # socketmap only: checked with the socketmap setting below
        return [
            host[1:-1] if host.startswith("[") and host.endswith("]") else host for host in value
        ]

    @field_validator("socketmap")
    @classmethod
    def _socketmap(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value and info.data.get("listen") == []:
            raise ValueError("needed when --listen is 'none' (nothing would be served)")
        for endpoint in value:
            kind, _, rest = endpoint.partition(":")
            if kind == "unix" and rest:
                continue
            if kind == "inet" and rest.rpartition(":")[2].isdigit() and rest.rpartition(":")[0]:
                continue
            raise ValueError(f"{endpoint!r}: expected inet:HOST:PORT or unix:PATH")
        return value

    @field_validator("hash_min")
    @classmethod
    def _hash_min(cls, value: int, info: ValidationInfo) -> int:
        if value > info.data.get("hash_length", value):
            raise ValueError("must not exceed hash-length")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = _config_path(init_settings(), env_settings())
        return init_settings, env_settings, _TomlSource(settings_cls, config)


def _config_path(cli: dict[str, Any], env: dict[str, Any]) -> Path | None:
    explicit = cli.get("config") or env.get("config")
    if explicit:
        return Path(explicit)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _variables() -> dict[str, str]:
    """Setting name → the ``PYSRSD_*`` variable that sets it, as spelt in the environment."""
    return {
        name[len(config_errors.ENV_PREFIX) :].lower(): name
        for name in os.environ
        if name.upper().startswith(config_errors.ENV_PREFIX)
    }


def unknown_variables() -> list[tuple[str, str | None]]:
    """``PYSRSD_*`` variables that name no setting (ignored), each with a near-miss."""
    return config_errors.unknown_variables(os.environ, Settings.model_fields)


def load(given: dict[str, Any]) -> Settings:
    """Settings from the command line's values (only those given) > env > file > defaults;
    a ``ConfigError`` naming the source of the first bad value otherwise."""
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(config_errors.explain(exc, _origins(given))) from None


def _origins(given: dict[str, Any]) -> config_errors.Origins:
    env = _variables()
    named = os.environ.get(env["config"]) if "config" in env else None
    config = _config_path(given, {"config": named})
    try:
        lines = config_errors.key_lines(config.read_text()) if config else {}
    except (OSError, UnicodeDecodeError):
        lines = {}
    return config_errors.Origins(
        cli=set(given),
        env={name: spelt for name, spelt in env.items() if name in Settings.model_fields},
        config=config or DEFAULT_CONFIG,
        lines=lines,
        defaults={name: field.default for name, field in Settings.model_fields.items()},
        unknown_env=unknown_variables(),
    )

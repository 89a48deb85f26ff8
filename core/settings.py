"""The one Settings object: environment (VAKTROM_*) plus an optional TOML config file; defaults run embedded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from core.types import CareSetting, Parameter

__all__ = ["DEFAULT_MAX_AGE_S", "Settings", "load_settings", "weak_secret_reason"]

# How long a value stays valid for live scoring, per care setting. Bedside monitors send every second, so a value
# older than 15 minutes (5 for pulse/SpO2) means the sensor is off; home kits send spot checks a few times a day.
DEFAULT_MAX_AGE_S: dict[CareSetting, dict[Parameter, float]] = {
    CareSetting.BEDSIDE: {
        Parameter.RESP_RATE: 900,
        Parameter.SPO2: 300,
        Parameter.SYSTOLIC_BP: 3600,  # cuffs cycle every 15-60 min
        Parameter.DIASTOLIC_BP: 3600,
        Parameter.PULSE: 300,
        Parameter.TEMPERATURE: 4 * 3600,
        Parameter.CONSCIOUSNESS: 12 * 3600,  # charted by a nurse each round
        Parameter.SUPPLEMENTAL_O2: 12 * 3600,
    },
    CareSetting.HOME: {
        Parameter.RESP_RATE: 12 * 3600,
        Parameter.SPO2: 12 * 3600,
        Parameter.SYSTOLIC_BP: 12 * 3600,
        Parameter.DIASTOLIC_BP: 12 * 3600,
        Parameter.PULSE: 12 * 3600,
        Parameter.TEMPERATURE: 12 * 3600,
        Parameter.CONSCIOUSNESS: 24 * 3600,
        Parameter.SUPPLEMENTAL_O2: 24 * 3600,
    },
}

_DAY_S = 24 * 3600
# A value older than a week is never a current observation, in any setting; NaN and infinity are no age at all.
_MaxAge = Annotated[float, Field(gt=0, le=7 * _DAY_S, allow_inf_nan=False)]

_EMBEDDED_MQTT_PORT = 18830  # not 1883, so the demo never clashes with a system Mosquitto
# Ingest worker slot n connects as "vaktrom-ingest-<n>" (a broker account can be bound to that id).
INGEST_CLIENT_ID_PREFIX = "vaktrom-ingest-"


class Settings(BaseSettings):
    """Every tunable of a vaktrom process. Read once in `vaktrom/`, handed to each part as needed."""

    # hide_input_in_errors: a rejected value may be a password or a conninfo string with one; errors name the
    # variable and say what is wrong, never echo it.
    model_config = SettingsConfigDict(env_prefix="VAKTROM_", extra="forbid", frozen=True, hide_input_in_errors=True)

    config_file: Path | None = Field(default=None, description="Optional TOML file with these settings (env wins).")
    data_dir: Path = Field(default=Path("var"), description="Where the embedded store, secrets and logs live.")

    mqtt_url: str | None = Field(
        default=None,
        description="mqtt://user:pass@host:1883 of an external broker; unset runs the embedded broker.",
    )
    mqtt_protocol: Literal["5", "3.1.1"] = Field(
        default="5", description="MQTT version to an external broker (the embedded broker speaks 3.1.1 only)."
    )
    mqtt_embedded_port: int = Field(default=_EMBEDDED_MQTT_PORT, ge=1, le=65535)
    mqtt_client_id: str = Field(default="vaktrom-ingest-1", min_length=1, max_length=64)
    mqtt_shared_group: str | None = Field(
        default=None, description="MQTT 5 shared-subscription group, so several ingest workers split the load."
    )
    # An ingest worker's identity at the broker is its persistent session and the readings queued in it. Mosquitto
    # keeps routing a shared group's messages to a member that is offline, so a worker replaced under a new client id
    # leaves those readings behind for good; a slot gives the replacement the same id, hence the same session.
    ingest_worker_slot: int | None = Field(
        default=None,
        ge=1,
        le=999,
        description="This ingest worker's slot, 1..N among N workers: its client id is vaktrom-ingest-<slot>, so a "
        "worker started in place of a dead one takes over its broker session and the readings queued there.",
    )
    # 3x ingest_batch_max: while two batches are being stored (unacked), the broker can send the next one to be parsed.
    mqtt_receive_maximum: int = Field(default=6000, ge=1, le=65535, description="Unacked messages in flight.")
    mqtt_topic_root: str = Field(default="vaktrom/v1", min_length=1)
    # Each vaktrom connection logs in as its own service account whose user name IS its client id: the broker binds
    # the two (Mosquitto `use_username_as_clientid`), so no other account can take over a session (docs/MQTT.md).
    # Ingest worker: `ingest_client_id`; its device-health checker: that plus "-health"; API node and simulator below.
    mqtt_password: SecretStr | None = Field(
        default=None,
        description="Password of this process's vaktrom service accounts on the broker (user name = client id). "
        "Unset with the embedded broker: generated into data_dir.",
    )
    mqtt_api_client_id: str = Field(
        default="vaktrom-api-1",
        min_length=1,
        max_length=64,
        description="This API node's broker account and client id (one per node: vaktrom-api-1, vaktrom-api-2...).",
    )
    mqtt_simulator_client_id: str = Field(
        default="vaktrom-simulator", min_length=1, max_length=64, description="The demo simulator's broker account."
    )

    database_url: str | None = Field(
        default=None, description="postgresql://... of an external PostgreSQL; unset uses embedded SQLite."
    )

    api_host: str = "127.0.0.1"
    demo_remote: bool = Field(
        default=False, description="Allow the embedded demo (with its printed login links) on a non-loopback host."
    )
    api_port: int = Field(default=8080, ge=1, le=65535)
    auth_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key for bearer tokens (>= 32 chars). Unset in embedded mode: generated into data_dir.",
    )
    token_ttl_s: int = Field(default=12 * 3600, gt=0, le=7 * 24 * 3600)
    # OpenID Connect (HelseID in Norway): with an issuer set, bearer tokens come from that provider only, and
    # vaktrom's own HMAC tokens (VAKTROM_AUTH_SECRET, `vaktrom token`, demo logins) are refused (docs/ACCESS.md).
    oidc_issuer: str | None = Field(
        default=None,
        description="Issuer URL of the OpenID Connect provider (https://; http only on a loopback host); set, only "
        "its tokens are accepted and vaktrom's own (HMAC) tokens are refused.",
    )
    oidc_audience: str | None = Field(
        default=None, max_length=512, description="The audience (aud) the provider's tokens must name for this API."
    )
    oidc_user_claim: str = Field(
        default="sub",
        min_length=1,
        max_length=256,
        description="Token claim holding the registered user id (HelseID: e.g. "
        "helseid://claims/identity/pid_pseudonym).",
    )
    oidc_role_claim: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Token claim naming the role the user acts in (one of their registered roles); unset, a user "
        "with one role acts in it.",
    )
    # Nodes and the provider disagree on the time by seconds; 30 s matches vaktrom's own tokens (auth.LEEWAY_S).
    oidc_leeway_s: float = Field(default=30, ge=0, le=300, description="Clock skew allowed on token exp/iat, seconds.")
    # The pages sign in at the provider themselves (authorisation code with PKCE) as this public client, whose
    # redirect URI is the API node's "/" (docs/ACCESS.md). Unset, they only take a pasted token.
    oidc_page_client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=r"^[\x21-\x7e]+$",
        description="Client id the pages sign in with at the OpenID Connect provider (a public client: no secret, "
        "PKCE, redirect URI https://<this node>/).",
    )
    oidc_page_scope: str = Field(
        default="openid",
        min_length=1,
        max_length=1024,
        pattern=r"^[\x21-\x7e]+( [\x21-\x7e]+)*$",
        description="Scopes the pages ask the provider for, space-separated (HelseID: openid and the API's scope).",
    )

    ingest_batch_max: int = Field(default=2000, ge=1, le=100_000, description="Messages per durable write.")
    ingest_batch_wait_s: float = Field(default=0.05, gt=0, le=5, description="Longest a message waits for batch.")
    future_tolerance_s: float = Field(default=120, ge=0, le=3600, description="Clock skew allowed on devices.")
    # On SIGTERM ingest stores and acknowledges the batches it holds, then disconnects. A batch commits in
    # milliseconds; the bound is for a database outage, when a commit would wait forever (what is not acknowledged
    # is delivered again later, so giving up loses nothing). 20 s fits inside the 30 s Kubernetes and systemd
    # (TimeoutStopSec in deploy/systemd) give before they SIGKILL.
    ingest_shutdown_grace_s: float = Field(
        default=20, gt=0, le=300, description="Longest ingest spends storing what it holds after SIGTERM."
    )
    # A JSON object of the parameters to change, e.g. {"spo2": 60}: the others keep their defaults (a partial object
    # replacing the whole table would leave every parameter not named valid forever, an hours-old value scored as now).
    max_age_bedside_s: dict[Parameter, _MaxAge] = Field(
        default_factory=lambda: dict(DEFAULT_MAX_AGE_S[CareSetting.BEDSIDE])
    )
    max_age_home_s: dict[Parameter, _MaxAge] = Field(default_factory=lambda: dict(DEFAULT_MAX_AGE_S[CareSetting.HOME]))

    device_silent_after_s: float = Field(
        default=120,
        gt=0,
        le=_DAY_S,
        allow_inf_nan=False,
        description="A streaming bedside device quiet this long: alert (others: their interval).",
    )
    battery_low_percent: float = Field(default=15, ge=0, le=100)
    # A bedside condition below the highest tier (NEWS2 5-6, a single 3, a patient's own limit) must persist this long
    # before its alert opens: 15-20 s cuts most non-actionable monitor alarms (motion, a slipped probe) in the
    # alarm-fatigue literature, and is short beside the chart's "urgent response". NEWS2 >= 7 and home spot checks
    # are never delayed (docs/ALERTS.md, "Confirmation delay"). 0 turns the delay off.
    alert_confirm_s: float = Field(default=20, ge=0, le=120, description="Bedside alert confirmation delay, seconds.")
    # Possible opioid respiratory depression (alerts/respiratory.py) must persist this long before its high alert opens:
    # PRODIGY's apnoea criterion; its research definition for low respiration or SpO2 is 3 min, too long for an alarm.
    respiratory_sustain_s: float = Field(
        default=30, ge=0, le=300, description="How long an opioid patient's RR <= 5 or SpO2 <= 85 lasts before alert."
    )

    model_path: Path | None = Field(default=None, description="ML risk artefact; unset uses the shipped default.")
    risk_min_interval_s: float = Field(
        default=60, ge=0, description="Recompute a patient's ML risk at most this often."
    )

    simulate: bool = Field(default=True, description="Run the simulated demo unit in `vaktrom run`.")
    simulation_speed: float = Field(default=1.0, gt=0, le=1000, description="Demo clock speed-up for home checks.")
    webhook_allow_loopback_http: bool = Field(
        default=False,
        description="Allow plain-http webhook endpoints on 127.0.0.1/::1/localhost (a gateway on the same host, tests);"
        " every other endpoint must be https.",
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    # The optional InfluxDB sink (`vaktrom influx-export`, docs/DEPLOY.md "InfluxDB"): its own broker session, so
    # ingest never waits for it; an InfluxDB v2 write API (InfluxDB 2.x, or a server that speaks it).
    influx_url: str | None = Field(
        default=None, description="http(s):// of the InfluxDB v2 server `vaktrom influx-export` writes to."
    )
    influx_org: str = Field(default="vaktrom", min_length=1, max_length=256, description="InfluxDB organisation.")
    influx_bucket: str = Field(default="vaktrom", min_length=1, max_length=256, description="InfluxDB bucket.")
    influx_token: SecretStr | None = Field(default=None, description="InfluxDB API token with write access.")
    influx_client_id: str = Field(
        default="vaktrom-influx", min_length=1, max_length=64, description="The exporter's broker account."
    )
    # Prometheus: every process serves /metrics on a port of its own, so a scrape never waits for (or slows) the API.
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of /metrics (Prometheus) for an API node or `run`; ingest worker slot n serves on this + n. "
        "0: off.",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address /metrics listens on.")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Prometheus sends to /metrics (>= 32 chars; required with VAKTROM_METRICS_PORT).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file_from(init_settings, env_settings)
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("max_age_bedside_s", "max_age_home_s", mode="after")
    @classmethod
    def _merged_with_defaults(cls, value: dict[Parameter, float], info: ValidationInfo) -> dict[Parameter, float]:
        setting = CareSetting.BEDSIDE if info.field_name == "max_age_bedside_s" else CareSetting.HOME
        return DEFAULT_MAX_AGE_S[setting] | value

    @field_validator("config_file")
    @classmethod
    def _config_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"config file {str(value)!r} does not exist or is not a file")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_is_mqtt(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"VAKTROM_MQTT_URL must look like mqtt://user:pass@host:1883, not {_redact(value)!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_postgres(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if urlsplit(value).scheme not in ("postgresql", "postgres"):
            # Not a URL, so nothing can be redacted reliably (`host=db password=...`): show only where it went wrong.
            raise ValueError("VAKTROM_DATABASE_URL must be a URL starting with postgresql:// (value not shown)")
        return value

    @model_validator(mode="after")
    def _enforce_secret_outside_embedded(self) -> Settings:
        # A shared deployment must not fall back to a key generated on one node: tokens would fail on the others.
        secret = self.auth_secret.get_secret_value() if self.auth_secret else None
        if secret is not None and len(secret) < 32:
            raise ValueError("VAKTROM_AUTH_SECRET must be at least 32 characters")
        weakness = None if secret is None else weak_secret_reason(secret)
        if weakness is not None:
            raise ValueError(f"VAKTROM_AUTH_SECRET is too easy to guess: {weakness}; use e.g. `openssl rand -hex 32`")
        if secret is None and (self.mqtt_url or self.database_url) and self.oidc_issuer is None:
            raise ValueError("VAKTROM_AUTH_SECRET is required when VAKTROM_MQTT_URL or VAKTROM_DATABASE_URL is set")
        return self

    @field_validator("oidc_issuer")
    @classmethod
    def _oidc_issuer_is_https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        loopback_http = parts.scheme == "http" and parts.hostname is not None and _is_loopback(parts.hostname)
        if (parts.scheme != "https" and not loopback_http) or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                f"VAKTROM_OIDC_ISSUER must be the provider's https:// issuer URL (http on loopback only), not {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _oidc_issuer_and_audience_together(self) -> Settings:
        if self.oidc_issuer is not None and not self.oidc_audience:
            raise ValueError("VAKTROM_OIDC_AUDIENCE is required when VAKTROM_OIDC_ISSUER is set")
        if self.oidc_audience and self.oidc_issuer is None:
            raise ValueError("VAKTROM_OIDC_AUDIENCE is set but VAKTROM_OIDC_ISSUER is not: set both, or neither")
        if self.oidc_page_client_id is not None and self.oidc_issuer is None:
            raise ValueError(
                "VAKTROM_OIDC_PAGE_CLIENT_ID is set but VAKTROM_OIDC_ISSUER is not: the pages sign in there"
            )
        return self

    @property
    def oidc(self) -> bool:
        """Tokens come from an OpenID Connect provider; vaktrom's own HMAC tokens are refused."""
        return self.oidc_issuer is not None

    def demo_login_problem(self) -> str | None:
        """Why `vaktrom run` must not print its demo login links here, or None. They carry long-lived tokens for every
        demo role: on an address other machines reach, anyone who sees a link is in."""
        if _is_loopback(self.api_host) or self.demo_remote:
            return None
        return (
            f"VAKTROM_API_HOST={self.api_host} would serve the demo and its login links beyond this machine; "
            "use 127.0.0.1, or set VAKTROM_DEMO_REMOTE=true if that is really meant"
        )

    @field_validator("influx_url")
    @classmethod
    def _influx_url_is_http(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("VAKTROM_INFLUX_URL must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _influx_needs_a_token(self) -> Settings:
        if self.influx_url is not None and self.influx_token is None:
            raise ValueError("VAKTROM_INFLUX_TOKEN is required with VAKTROM_INFLUX_URL (an InfluxDB API token)")
        return self

    @model_validator(mode="after")
    def _metrics_need_a_token(self) -> Settings:
        # The counts say nothing of patients, but they do say how a unit's service is doing: only Prometheus reads them.
        token = self.metrics_token.get_secret_value() if self.metrics_token else None
        if self.metrics_port and token is None:
            raise ValueError("VAKTROM_METRICS_TOKEN is required with VAKTROM_METRICS_PORT (Prometheus sends it)")
        if token is not None:
            weakness = "it is shorter than 32 characters" if len(token) < 32 else weak_secret_reason(token)
            if weakness is not None:
                raise ValueError(f"VAKTROM_METRICS_TOKEN is too easy to guess: {weakness}; use `openssl rand -hex 32`")
        return self

    @model_validator(mode="after")
    def _one_ingest_identity(self) -> Settings:
        if self.ingest_worker_slot is None or "mqtt_client_id" not in self.model_fields_set:
            return self
        if self.mqtt_client_id != self.ingest_client_id:
            raise ValueError(
                f"VAKTROM_INGEST_WORKER_SLOT={self.ingest_worker_slot} gives the client id {self.ingest_client_id!r}, "
                f"VAKTROM_MQTT_CLIENT_ID says {self.mqtt_client_id!r}: set only one of them"
            )
        return self

    @property
    def ingest_client_id(self) -> str:
        """The ingest worker's MQTT client id: `vaktrom-ingest-<slot>` with a slot, else VAKTROM_MQTT_CLIENT_ID."""
        if self.ingest_worker_slot is not None:
            return f"{INGEST_CLIENT_ID_PREFIX}{self.ingest_worker_slot}"
        return self.mqtt_client_id

    @property
    def ingest_metrics_port(self) -> int:
        """Where an ingest worker serves /metrics: VAKTROM_METRICS_PORT + its slot (so one host's workers and API
        node share one environment file), 0 when metrics are off."""
        if not self.metrics_port:
            return 0
        return self.metrics_port + (self.ingest_worker_slot or 0)

    @model_validator(mode="after")
    def _one_set_of_mqtt_credentials(self) -> Settings:
        if self.mqtt_password is not None and self.mqtt_url and urlsplit(self.mqtt_url).username:
            raise ValueError(
                "VAKTROM_MQTT_URL carries a user name and VAKTROM_MQTT_PASSWORD is set: take the credentials out of "
                "the URL (vaktrom logs in as each connection's client id, docs/MQTT.md)"
            )
        return self

    @property
    def health_client_id(self) -> str:
        """The device-health checker beside an ingest worker: its own account, so it never takes over the worker's."""
        return f"{self.ingest_client_id}-health"

    @property
    def embedded_broker(self) -> bool:
        return self.mqtt_url is None

    @property
    def embedded_store(self) -> bool:
        return self.database_url is None

    def max_age_s(self, setting: CareSetting) -> dict[Parameter, float]:
        return self.max_age_bedside_s if setting is CareSetting.BEDSIDE else self.max_age_home_s

    @property
    def mqtt_v5(self) -> bool:
        return self.mqtt_url is not None and self.mqtt_protocol == "5"

    def effective_mqtt_url(self) -> str:
        return self.mqtt_url or f"mqtt://127.0.0.1:{self.mqtt_embedded_port}"

    def __repr_args__(self) -> Any:
        # URLs may carry passwords: show them redacted.
        for name, value in super().__repr_args__():
            yield name, (_redact(value) if name in ("mqtt_url", "database_url") and value else value)


def _config_file_from(*sources: PydanticBaseSettingsSource) -> Path | None:
    for source in sources:
        data = source()
        if data.get("config_file"):
            return Path(data["config_file"])
    return None


# Published secrets: examples and benchmarks that once shipped with one.
_PUBLISHED_SECRETS = frozenset({"bench-e2e-secret-that-is-at-least-32-characters"})
# A random 32-character key in hex or base64 uses at least 13 distinct characters (the chance of fewer is ~1e-6 for
# hex); a typed phrase or a pattern uses fewer.
_MIN_DISTINCT_CHARACTERS = 12


def weak_secret_reason(secret: str) -> str | None:
    """Why `secret` is weak (published, a repetition, too few distinct characters), or None."""
    if secret in _PUBLISHED_SECRETS:
        return "it is published"
    for period in range(1, len(secret) // 2 + 1):
        if secret == (secret[:period] * (len(secret) // period + 1))[: len(secret)]:
            return f"it repeats {period} characters"
    if len(set(secret)) < _MIN_DISTINCT_CHARACTERS:
        return f"it uses fewer than {_MIN_DISTINCT_CHARACTERS} distinct characters"
    return None


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment (and the config file it names); overrides win. Raises ValidationError."""
    return Settings(**overrides)

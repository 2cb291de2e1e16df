"""Runner settings: one pydantic-settings model.

Sources, highest priority first: CLI flags (passed as init kwargs), environment
(`JES_*`), `.env` in the working directory, then the secrets directory (default
`/var/run/secrets/jes`, the layout of a mounted Kubernetes Secret: one file per
key). A missing secrets directory is normal (laptops, CI) and not an error.
"""

from __future__ import annotations

import io
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from jes_runner._util import redact_url, strip_userinfo
from jes_runner.config.phases import PhaseSpec, parse_phases
from jes_runner.errors import ConfigError

DEFAULT_SECRETS_DIR = Path("/var/run/secrets/jes")
DEFAULT_JOB_CONFIG = Path("config/job_configs.json")
DEFAULT_PROFILE = "adhoc"  # the CLI's run kind; the chart sets the release name
# upper bounds of the numeric settings: beyond them a value is a typo (1e10 s overflows timers and
# kills the shutdown watchdog), and one line saying so beats an OverflowError mid-run
DAY_S = 86400.0
WEEK_S = 7 * DAY_S
SECRET_FILES = (
    "access_token",
    "refresh_token",
    "client_id",
    "client_secret",
    "username",
    "password",
    "pushgateway_password",
    "pushgateway_token",
)
SECRET_FIELDS = (
    "password",
    "access_token",
    "refresh_token",
    "client_secret",
    "pushgateway_password",
    "pushgateway_token",
    "kube_api_token",
)


class _SecretsDirSource(PydanticBaseSettingsSource):
    """Files named like the keys of a Kubernetes Secret (`access_token`, `password`, ...)."""

    def __init__(self, settings_cls: type[BaseSettings], directory: Path) -> None:
        super().__init__(settings_cls)
        self.directory = directory

    def get_field_value(
        self, field: Any, field_name: str
    ) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not self.directory.is_dir():
            return out
        for key in SECRET_FILES:
            path = self.directory / key
            try:
                value = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(
                    f"secrets directory {self.directory}: cannot read '{key}' ({e.__class__.__name__})"
                ) from None
            if value:
                out[key] = value
        return out


# share of a phase's makespan with Viya answering errors / with none of its jobs on the server
# beyond which its figures describe the measurement, not the cluster (vs_baseline.comparable false)
DEFAULT_MAX_OUTAGE_SHARE = 0.10
DEFAULT_MAX_IDLE_SHARE = 0.25


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="JES_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        allow_inf_nan=False,  # "inf" would pass gt=0 and then hang or crash a run
    )

    # Viya and credentials
    viya_url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    client_id: str = "sas.cli"
    client_secret: SecretStr | None = None
    secrets_dir: Path = DEFAULT_SECRETS_DIR
    verify_tls: bool = True
    ca_bundle: Path | None = None

    # inputs and outputs
    job_config: Path = DEFAULT_JOB_CONFIG
    output_dir: Path = Path("results")
    phases: Annotated[list[PhaseSpec] | None, NoDecode] = None

    # Pushgateway (metrics.py): unset URL means no push
    pushgateway_url: str | None = None
    pushgateway_username: str | None = None
    pushgateway_password: SecretStr | None = None
    pushgateway_token: SecretStr | None = None  # bearer token (instead of basic auth)
    pushgateway_ca_bundle: Path | None = None
    pushgateway_timeout_s: float = Field(default=10.0, gt=0, le=600)
    pushgateway_retries: int = Field(default=3, ge=0, le=10)
    pushgateway_backoff_s: float = Field(default=0.5, ge=0, le=600)

    # pacing
    poll_interval_min: float = Field(default=0.05, gt=0, le=3600)
    poll_interval_max: float = Field(default=30.0, gt=0, le=3600)
    job_timeout_s: float = Field(default=3600.0, gt=0, le=WEEK_S)
    correlation_deadline_s: float = Field(default=120.0, ge=0, le=DAY_S)
    correlation_page_limit: int = Field(default=500, ge=1, le=10000)
    submit_workers: int = Field(default=8, ge=1, le=64)
    request_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    max_retries: int = Field(default=4, ge=0, le=20)
    retry_backoff_s: float = Field(default=0.5, ge=0, le=600)

    # Kubernetes lifecycle (kube/, timeline.py, signals.py)
    persist_tokens: Literal["auto", "secret", "file", "off"] = (
        "auto"  # where a new refresh token goes
    )
    token_secret_name: str | None = None  # the Secret holding the tokens (write-back target)
    token_secret_namespace: str | None = None  # default: the pod's namespace
    # file name -> key in the token Secret when its keys are named differently (chart: existingSecretKeys)
    token_secret_keys: dict[str, str] = Field(default_factory=dict)
    # never patch the token Secret (an operator would revert it): rotated tokens go to token_store_secret_name
    token_secret_operator_managed: bool = False
    token_store_secret_name: str | None = (
        None  # runner-owned Secret for rotated tokens; read back first
    )
    kube_api_url: str | None = (
        None  # explicit API server (tests, emulator); else in-cluster / kubeconfig
    )
    kube_api_token: SecretStr | None = None  # bearer token for kube_api_url
    node_timeline: Literal["auto", "orchestrator", "off"] = (
        "auto"  # auto: Kubernetes, else orchestrator
    )
    node_selector: str = "workload.sas.com/class=compute"  # label selector of the compute nodes
    node_poll_interval_s: float = Field(default=10.0, gt=0, le=3600)  # orchestrator-hosts fallback
    cold_start_timeout_s: float = Field(
        default=1800.0, ge=0, le=DAY_S
    )  # longest wait for a cold pool (cold_start phases)
    cold_start_poll_s: float = Field(
        default=15.0, gt=0, le=3600
    )  # how often the pool is counted while waiting
    grace_period_seconds: float = Field(
        default=25.0, gt=0, le=3600
    )  # SIGTERM -> exit; < terminationGracePeriodSeconds

    # presentation
    cluster: str = "default"
    environment: str = "default"
    # run kind: in the Pushgateway grouping key, so only runs of one profile replace each other's metrics
    profile: str = Field(default=DEFAULT_PROFILE, pattern=r"^[A-Za-z0-9][-_.A-Za-z0-9]{0,62}$")
    log_format: Literal["text", "json"] = "text"
    report: bool = True  # HTML report + PNG figures beside the results file (--no-report)
    # cancel jobs other runs left in Viya once past their own job timeout (--cancel-orphans; the CronJob's default)
    cancel_orphans: bool = False

    # thresholds: crossing one makes the run's exit code 6 (ExitCode.THRESHOLD)
    max_failed_jobs: int | None = Field(
        default=None, ge=0, le=10**9
    )  # failed + canceled + timed out, all phases
    min_speedup: float | None = Field(default=None, gt=0, le=10**6)  # every non-baseline phase
    max_queue_wait_p95_seconds: float | None = Field(
        default=None, ge=0, le=WEEK_S
    )  # every non-baseline phase
    # comparability: past these a phase is not comparable (its speedup judges nothing)
    max_outage_share: float = Field(default=DEFAULT_MAX_OUTAGE_SHARE, ge=0, le=1)
    max_idle_share: float = Field(default=DEFAULT_MAX_IDLE_SHARE, ge=0, le=1)

    @field_validator("viya_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", v) or not _url_ok(v):
            raise ValueError("must start with http:// or https:// and name a host")
        return v

    @field_validator("token_secret_keys")
    @classmethod
    def _token_keys(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(SECRET_FILES))
        if unknown:
            raise ValueError(
                f"unknown file name(s) {', '.join(unknown)}; use {', '.join(SECRET_FILES)}"
            )
        return v

    @field_validator("phases", mode="before")
    @classmethod
    def _phases(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return parse_phases(v, "JES_PHASES")

    @field_validator("pushgateway_url")
    @classmethod
    def _pushgateway_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if "://" not in v:  # "host:9091", as prometheus_client accepts it
            v = f"http://{v}"
        v = v.rstrip("/")  # after the scheme test: "http://" must not become "http://http:"
        if not re.match(r"^https?://[^/\s]+", v) or not _url_ok(v):
            raise ValueError("must be http:// or https:// and name a host")
        return v

    @field_validator("ca_bundle", "pushgateway_ca_bundle")
    @classmethod
    def _ca_bundle(cls, v: Path | None) -> Path | None:
        # requests would only notice at the first HTTPS request, with an OSError mid-preflight
        if v is not None and not v.exists():
            raise ValueError(f"no such file or directory: {v}")
        return v

    @model_validator(mode="after")
    def _url_credentials(self) -> Settings:
        """``https://user:pass@viya`` : the client authenticates with bearer tokens, so credentials
        in the URL become JES_USERNAME/JES_PASSWORD (unless those are set) and leave the URL, which
        is logged and stored. Nothing downstream ever sees them in a URL."""
        if self.viya_url and "@" in urlsplit(self.viya_url).netloc:
            parts = urlsplit(self.viya_url)
            if parts.username and self.username is None and self.password is None:
                self.username = unquote(parts.username)
                self.password = SecretStr(unquote(parts.password or ""))
            self.viya_url = strip_userinfo(self.viya_url)
        return self

    @model_validator(mode="after")
    def _bounds(self) -> Settings:
        if self.poll_interval_min > self.poll_interval_max:
            raise ValueError("JES_POLL_INTERVAL_MIN must not exceed JES_POLL_INTERVAL_MAX")
        if self.pushgateway_token is not None and self.pushgateway_password is not None:
            raise ValueError(
                "set JES_PUSHGATEWAY_TOKEN or JES_PUSHGATEWAY_USERNAME/PASSWORD, not both"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs = getattr(init_settings, "init_kwargs", {}) or {}
        directory = (
            init_kwargs.get("secrets_dir")
            or os.environ.get("JES_SECRETS_DIR")
            or DEFAULT_SECRETS_DIR
        )
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _SecretsDirSource(settings_cls, Path(directory)),
        )

    # helpers -------------------------------------------------------------

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        if value is None:
            return None
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def resolved_job_config(self) -> Path:
        """The configured file, or the copy shipped in the package when the default is absent."""
        if self.job_config.exists() or self.job_config != DEFAULT_JOB_CONFIG:
            return self.job_config
        return packaged_job_config()

    def masked(self) -> dict[str, Any]:
        """Effective settings for logs and the results file: secrets shown only as set/unset."""
        data = self.model_dump(mode="json")
        for key in SECRET_FIELDS:
            data[key] = "********" if getattr(self, key) is not None else None
        for key in (
            "viya_url",
            "pushgateway_url",
        ):  # credentials in a URL (user:pass@, ?token=) are secrets too
            if data.get(key):
                data[key] = redact_url(data[key])
        return data


def with_file_settings(
    settings: Settings, poll_interval: float | None, timeout: float | None
) -> Settings:
    """The job config's ``poll_interval`` / ``timeout`` where no flag, JES_* variable or .env set them."""
    update: dict[str, Any] = {}
    if poll_interval is not None and "poll_interval_max" not in settings.model_fields_set:
        update["poll_interval_max"] = max(poll_interval, settings.poll_interval_min)
    if timeout is not None and "job_timeout_s" not in settings.model_fields_set:
        update["job_timeout_s"] = timeout
    return settings.model_copy(update=update) if update else settings


def packaged_job_config() -> Path:
    """The 54-job config shipped as package data (identical to config/job_configs.json)."""
    return Path(str(resources.files("jes_runner") / "data" / "job_configs.json"))


_FLAGS = {
    "job_config": "--config",
    "job_timeout_s": "--job-timeout",
    "correlation_deadline_s": "--correlation-deadline",
    "verify_tls": "--no-verify-tls",
}


def _url_ok(url: str) -> bool:
    """A host is named and the port, if any, is a number (urlsplit raises on "host:abc")."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return bool(parts.hostname) and not any(c.isspace() for c in url)


def _check_dotenv(path: Path) -> None:
    """A `.env` python-dotenv cannot read is malformed input: one line naming the line, not warnings
    on stderr (or a UnicodeDecodeError traceback) and a run with half the settings."""
    if not path.is_file():
        return
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {e.start}) -- save .env as UTF-8"
        ) from None
    except OSError as e:
        raise ConfigError(
            f"{path}: cannot read ({e.strerror or e}) -- fix its permissions or remove it"
        ) from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:  # the line's text is not shown: it may hold a secret
            raise ConfigError(
                f"{path} line {binding.original.line}: not a KEY=value line (check quotes)"
                " -- fix the syntax"
            ) from None


def load_settings(**overrides: Any) -> Settings:
    """Build settings with CLI overrides (None means "not given"); one-line ConfigError on bad input."""
    given = {k: v for k, v in overrides.items() if v is not None}
    _check_dotenv(Path(".env"))
    try:
        return Settings(**given)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # a rule across settings: its message names them
            raise ConfigError(
                f"settings: {msg} -- fix them in the environment, .env or the secrets directory"
            ) from None
        name = f"JES_{loc.upper()}"
        if loc in given:
            flag = _FLAGS.get(loc, "--" + loc.replace("_", "-"))
            raise ConfigError(
                f"setting {name}: {msg} -- fix the {flag} option (or {name})"
            ) from None
        raise ConfigError(
            f"setting {name}: {msg} -- fix {name} in the environment, .env or the secrets directory"
        ) from None
    except SettingsError as e:
        raise ConfigError(f"settings: {' '.join(str(e).split())}") from None
    except json.JSONDecodeError as e:  # pragma: no cover - defensive
        raise ConfigError(f"settings: {e}") from None

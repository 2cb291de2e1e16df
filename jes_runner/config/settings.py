"""Runner settings: one pydantic-settings model.

Sources, highest priority first: CLI flags (passed as init kwargs), environment
(`JES_*`), `.env` in the working directory, then the secrets directory (default
`/var/run/secrets/jes`, the layout of a mounted Kubernetes Secret: one file per
key). A missing secrets directory is normal (laptops, CI) and not an error.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Mapping
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

from jes_runner._util import DAY_S, WEEK_S, redact_url, strip_userinfo
from jes_runner.config.phases import PhaseSpec, parse_phases
from jes_runner.config.secrets import DEFAULT_SECRETS_DIR, SECRET_FILES, read_secrets_dir
from jes_runner.errors import ConfigError

log = logging.getLogger("jes_runner.config")

DEFAULT_JOB_CONFIG = Path("config/job_configs.json")
DEFAULT_PROFILE = "adhoc"  # the CLI's run kind; the chart sets the release name
# upper bounds of the numeric settings (DAY_S, WEEK_S): beyond them a value is a typo (1e10 s
# overflows timers and kills the shutdown watchdog), and one line saying so beats an OverflowError
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
        return dict(read_secrets_dir(self.directory))


# share of a phase's makespan with Viya answering errors / with none of its jobs on the server
# beyond which its figures describe the measurement, not the cluster (vs_baseline.comparable false)
DEFAULT_MAX_OUTAGE_SHARE = 0.10
DEFAULT_MAX_IDLE_SHARE = 0.25
# node-hour price: unset means no cost; beyond a million per node-hour a value is a typo
MAX_NODE_HOUR_PRICE = 1e6
DEFAULT_CURRENCY = "USD"  # what cloud node prices are usually quoted in
CURRENCY_RE = re.compile(r"^[A-Za-z]{1,8}$")  # as the chart's cost.currency (an ISO 4217 code fits)


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
    # the default phases' contexts (a phases file names its own); unset: the job config's
    # settings block, else the original tool's context names
    sequential_context: str | None = Field(default=None, min_length=1)
    concurrent_context: str | None = Field(default=None, min_length=1)

    # Pushgateway (sinks/metrics): unset URL means no push; push=false (--no-push) keeps the URL unused
    pushgateway_url: str | None = None
    push: bool = True
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

    # Kubernetes lifecycle (kube/, shutdown.py)
    # where a new refresh token goes
    persist_tokens: Literal["auto", "secret", "file", "off"] = "auto"
    token_secret_name: str | None = None  # the Secret holding the tokens (write-back target)
    token_secret_namespace: str | None = None  # default: the pod's namespace
    # file name -> key in the token Secret when its keys are named differently (chart: existingSecretKeys)
    token_secret_keys: dict[str, str] = Field(default_factory=dict)
    # never patch the token Secret (an operator would revert it): rotated tokens go to token_store_secret_name
    token_secret_operator_managed: bool = False
    # runner-owned Secret for rotated tokens; read back first
    token_store_secret_name: str | None = None
    # explicit API server (tests, emulator); else in-cluster / kubeconfig
    kube_api_url: str | None = None
    kube_api_token: SecretStr | None = None  # bearer token for kube_api_url
    # auto: Kubernetes, else orchestrator
    node_timeline: Literal["auto", "orchestrator", "off"] = "auto"
    node_selector: str = "workload.sas.com/class=compute"  # label selector of the compute nodes
    node_poll_interval_s: float = Field(default=10.0, gt=0, le=3600)  # orchestrator-hosts fallback
    # longest wait for a cold pool (cold_start phases)
    cold_start_timeout_s: float = Field(default=1800.0, ge=0, le=DAY_S)
    # how often the pool is counted while waiting
    cold_start_poll_s: float = Field(default=15.0, gt=0, le=3600)
    # SIGTERM -> exit; < terminationGracePeriodSeconds
    grace_period_seconds: float = Field(default=25.0, gt=0, le=3600)

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
    # failed + canceled + timed out, all phases
    max_failed_jobs: int | None = Field(default=None, ge=0, le=10**9)
    min_speedup: float | None = Field(default=None, gt=0, le=10**6)  # every non-baseline phase
    # every non-baseline phase
    max_queue_wait_p95_seconds: float | None = Field(default=None, ge=0, le=WEEK_S)
    # comparability: past these a phase is not comparable (its speedup judges nothing)
    max_outage_share: float = Field(default=DEFAULT_MAX_OUTAGE_SHARE, ge=0, le=1)
    max_idle_share: float = Field(default=DEFAULT_MAX_IDLE_SHARE, ge=0, le=1)

    # cost: each phase's node-seconds x this price / 3600 -> phases[].cost, jes_phase_cost
    node_hour_price: float | None = Field(default=None, ge=0, le=MAX_NODE_HOUR_PRICE)
    # the price's currency: a code such as EUR (the metric's label)
    currency: str = DEFAULT_CURRENCY

    @field_validator("viya_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", v) or not _url_ok(v):
            raise ValueError("must start with http:// or https:// and name a host")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        v = v.strip() or DEFAULT_CURRENCY  # JES_CURRENCY= (blank) in a .env: the default
        if not CURRENCY_RE.match(v):
            raise ValueError("must be a currency code of 1 to 8 letters, such as EUR or USD")
        return v.upper()

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
    def _no_push(self) -> Settings:
        """JES_PUSH=false / --no-push: no push even where JES_PUSHGATEWAY_URL is set (the chart's
        default values, a shared .env)."""
        if not self.push:
            self.pushgateway_url = None
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
        # credentials in a URL (user:pass@, ?token=) are secrets too
        for key in ("viya_url", "pushgateway_url"):
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


# Settings field -> its command-line flag: the one table cli/options.py declares the flags from,
# cli/session.py reads them back with, and a bad value's error names.
SETTING_FLAGS: dict[str, str] = {
    "viya_url": "--viya-url",
    "ca_bundle": "--ca-bundle",
    "verify_tls": "--no-verify-tls",
    "job_config": "--config",
    "output_dir": "--output-dir",
    "log_format": "--log-format",
    "sequential_context": "--sequential-context",
    "concurrent_context": "--concurrent-context",
    "job_timeout_s": "--job-timeout",
    "correlation_deadline_s": "--correlation-deadline",
    "cluster": "--cluster",
    "environment": "--environment",
    "profile": "--profile",
    "report": "--no-report",
    "cancel_orphans": "--cancel-orphans",
    "pushgateway_url": "--pushgateway-url",
    "push": "--no-push",
    "max_failed_jobs": "--max-failed-jobs",
    "min_speedup": "--min-speedup",
    "max_queue_wait_p95_seconds": "--max-queue-wait-p95",
    "max_outage_share": "--max-outage-share",
    "max_idle_share": "--max-idle-share",
    "node_hour_price": "--node-hour-price",
    "currency": "--currency",
}
# JES_* variables that are not settings but are read by the build scripts
OTHER_ENV = frozenset({"JES_BASE_IMAGE", "JES_IMAGE"})


def env_name(field: str) -> str:
    return f"JES_{field.upper()}"


_warned_env: set[str] = set()


def warn_unknown_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning line per unknown JES_* variable (a typo would otherwise be ignored silently),
    naming the closest known one; each name is warned once per process. Returns the new ones."""
    import difflib

    env = os.environ if environ is None else environ
    known = {env_name(f) for f in Settings.model_fields} | OTHER_ENV
    new = sorted(k for k in env if k.startswith("JES_") and k not in known and k not in _warned_env)
    for name in new:
        _warned_env.add(name)
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f" -- did you mean {close[0]}?" if close else ""
        log.warning("unknown environment variable %s ignored%s", name, hint)
    return new


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
            flag = SETTING_FLAGS.get(loc, "--" + loc.replace("_", "-"))
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

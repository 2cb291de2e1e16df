"""The job config file (`config/job_configs.json`), in the original tool's format.

Users drop in the file they already have, so the model accepts its keys as they
are and rejects anything malformed with one line naming the file, the entry and
the field.
"""

from __future__ import annotations

import contextlib
import json
import math
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jes_runner.errors import ConfigError


class JobConfig(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    definition_id: str | None = None
    name: str = Field(min_length=1)
    description: str = ""
    arguments: dict[str, str] = Field(default_factory=dict)
    context_name: str | None = None
    enabled: bool = True
    expected_runtime_s: float | None = Field(default=None, gt=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        if any(unicodedata.category(c) == "Cc" for c in v):
            raise ValueError("must not contain control characters")
        return v

    @field_validator("arguments", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        # Job Execution arguments are a string-to-string map; numbers are common in hand-written files.
        if isinstance(v, dict):
            bad = [k for k, x in v.items() if isinstance(x, float) and not math.isfinite(x)]
            if bad:  # NaN / Infinity / 1e400: Python's json reads them, no JSON tool writes them
                raise ValueError(f"argument {bad[0]!r} is not a finite number")
            return {
                k: (str(x) if isinstance(x, int | float) and not isinstance(x, bool) else x)
                for k, x in v.items()
            }
        return v


class ConfigMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    generated_at: str | None = None
    discovery_pattern: str | None = None
    total_jobs_found: int | None = None
    enabled_jobs: int | None = None
    disabled_jobs: int | None = None


class JobConfigFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    jobs: list[JobConfig]
    settings: dict[str, Any] = Field(default_factory=dict)
    metadata: ConfigMetadata = Field(default_factory=ConfigMetadata)

    @property
    def enabled_jobs(self) -> list[JobConfig]:
        return [j for j in self.jobs if j.enabled]


ORIGINAL_SETTINGS = (
    "default_context",
    "async_context",
    "concurrent_jobs",
    "poll_interval",
    "timeout",
)


class FileSettings(BaseModel):
    """The original tool's ``settings`` block, honoured: the contexts and the concurrency shape the
    default phases, ``poll_interval`` caps the gap between two looks at a job (poll_interval_max),
    ``timeout`` is the job timeout. A flag or a JES_* variable still wins; unknown keys are listed."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    default_context: str | None = Field(default=None, min_length=1)
    async_context: str | None = Field(default=None, min_length=1)
    concurrent_jobs: int | None = Field(default=None, ge=1)
    poll_interval: float | None = Field(default=None, gt=0)
    timeout: float | None = Field(default=None, gt=0)
    unknown: list[str] = Field(default_factory=list)


def file_settings(cfg: JobConfigFile, path: str | Path) -> FileSettings:
    """Validate the ``settings`` block; one line naming the key when a value is wrong."""
    raw = cfg.settings or {}
    try:
        fs = FileSettings.model_validate({k: v for k, v in raw.items() if k in ORIGINAL_SETTINGS})
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        raise ConfigError(
            f"{path}: settings.{key}: {err['msg']} -- fix it or remove the key"
        ) from None
    fs.unknown = sorted(k for k in raw if k not in ORIGINAL_SETTINGS)
    return fs


def _describe(path: Path, data: Any, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = list(first["loc"])
    where = "top level"
    if len(loc) >= 2 and loc[0] == "jobs" and isinstance(loc[1], int):
        idx = loc[1]
        name = None
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            name = data["jobs"][idx].get("name")
        field = ".".join(str(p) for p in loc[2:]) or "(entry)"
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        where = f"jobs[{idx}]" + (f" ({shown})" if name else "") + f" field '{field}'"
    elif loc:
        where = "field '" + ".".join(str(p) for p in loc) + "'"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{path}: {where}: {msg} -- fix that entry (see README 'Job config')"


def load_job_config(path: str | Path) -> JobConfigFile:
    """Read and validate a job config file; raise ConfigError with one clear line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{p}: job config file not found -- pass --config PATH or set JES_JOB_CONFIG"
        ) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{p}: not UTF-8 text (byte {e.start}) -- save the job config as UTF-8 JSON"
        ) from None
    except OSError as e:
        raise ConfigError(
            f"{p}: cannot read job config ({e.__class__.__name__}: {e.strerror or e})"
            " -- pass --config PATH to a readable JSON file"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"{p}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg} -- fix the syntax"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{p}: nested too deeply to be a job config -- fix the file (see README 'Job config')"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: top level must be an object with a 'jobs' list -- fix the file (see README 'Job config')"
        )
    try:
        cfg = JobConfigFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(p, data, e)) from None
    counts = Counter(j.name for j in cfg.jobs)  # not list.count: O(n^2) at 10,000 jobs
    dupes = sorted(n for n, c in counts.items() if c > 1)
    if dupes:
        raise ConfigError(
            f"{p}: duplicate job name(s) {', '.join(dupes)} -- each job must appear once"
        )
    return cfg


@dataclass(frozen=True)
class JobConfigOrigin:
    """Where a run's job config came from, and whether it is the packaged example.

    The packaged example (54 pooled SDTM jobs) makes every run look fine on a Viya that
    has those definitions: a deployment that forgot its own config must hear about it."""

    path: Path
    source: str  # "--config", "JES_JOB_CONFIG", "the working directory", "the package"
    example: bool

    def describe(self) -> str:
        return f"{self.path} (from {self.source}{', the packaged example' if self.example else ''})"


def job_config_origin(path: Path, *, flag: bool, env: bool, packaged: Path) -> JobConfigOrigin:
    """``path``: the resolved config; ``flag``/``env``: whether --config / JES_JOB_CONFIG named it."""
    if flag:
        source = "--config"
    elif env:
        source = "JES_JOB_CONFIG"
    elif path == packaged:
        source = "the package"
    else:
        source = "the working directory"
    return JobConfigOrigin(path, source, _same_json(path, packaged))


def _same_json(a: Path, b: Path) -> bool:
    """Same JSON content (a copy of the example, e.g. the image's /app/config, counts too)."""
    try:
        return a == b or json.loads(a.read_bytes()) == json.loads(b.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False

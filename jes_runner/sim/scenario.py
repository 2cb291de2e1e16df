"""The emulator's scenario: node pools, queues, contexts, job profiles, faults, auth.

A scenario is a YAML or JSON file validated here with pydantic; every error is
one line naming the file and the field, raised as :class:`ConfigError`.

Units: every cluster duration (delays, idle times, overheads, run times, lags,
outage windows) is in *model seconds* -- the real cluster's seconds. The
emulator runs them ``speed_factor`` times faster (real = model x speed_factor).
Fields about the client's HTTP exchange (``latency_ms``, ``retry_after_s``) and
token lifetimes are *real* seconds: they act on the client, not on the cluster.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jes_runner._util import DAY_S
from jes_runner.errors import ConfigError

DEFAULT_SCENARIO_FILE = "default_scenario.yaml"
BUILTIN_PROFILES = {"pooled54": "pooled54_profile.json"}


class _Strict(BaseModel):
    # no NaN/inf: an infinite speed factor, lag or latency would hang or crash the server, not fail here
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PoolSpec(_Strict):
    """A node pool (an AKS VM scale set) and its autoscaling behaviour."""

    vmss_id: str = Field(default="10000000", pattern=r"^[0-9]{1,12}$")
    first_index: int = Field(default=0, ge=0)  # base-36 VMSS index of the first node
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int = Field(default=1, ge=1)
    initial_nodes: int | None = Field(default=None, ge=0)  # None -> min_nodes, ready at t=0
    slots_per_node: int = Field(default=4, ge=1)  # jobs starting or running at once per node
    # CPU cores the jobs share on a node (None: cores_per_node); a job using d cores alone
    # runs (1 - d) + d * max(1, demand / cpu_capacity) times slower (model.py)
    cpu_capacity: float | None = Field(default=None, gt=0)
    scale_up_delay: float = Field(default=270.0, ge=0)  # request -> node Ready (median)
    # first job on a fresh node waits this (image pull, median)
    image_pull: float = Field(default=0.0, ge=0)
    # log-normal spread (sigma of the log) of each node's scale-up delay and image pull
    delay_jitter: float = Field(default=0.0, ge=0, le=2)
    scale_down_idle: float = Field(default=600.0, ge=0)  # idle time before a node is removed
    # nodes requested at once (None: as many as the pending jobs need, as AKS's autoscaler does)
    max_provisioning: int | None = Field(default=None, ge=1)
    cores_per_node: float = Field(default=4.0, gt=0)  # the VM's cores (/hosts, Kubernetes)
    memory_mb_per_node: float = Field(default=16384.0, gt=0)

    @property
    def job_cores(self) -> float:
        """Cores the jobs on one node share."""
        return self.cores_per_node if self.cpu_capacity is None else self.cpu_capacity

    @model_validator(mode="after")
    def _bounds(self) -> PoolSpec:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes ({self.min_nodes}) exceeds max_nodes ({self.max_nodes})")
        if self.initial_nodes is not None and not (
            self.min_nodes <= self.initial_nodes <= self.max_nodes
        ):
            raise ValueError("initial_nodes must lie between min_nodes and max_nodes")
        return self


class QueueSpec(_Strict):
    """A Workload Orchestrator queue: the pools whose nodes may run its jobs, in preference order."""

    pools: list[str] = Field(min_length=1)
    priority: int = 10
    # The most hosts this queue's jobs may occupy at once (a WLO host type's
    # maximum).
    max_nodes: int | None = Field(default=None, ge=1)
    # True: its pools scale on its whole backlog, past the host limit (the cluster autoscaler
    # sees pending work, not WLO's limit), so a node may come up that the queue cannot use
    # and stay idle until scale-down; False: no node the queue could not use.
    scale_past_host_limit: bool = False


class ContextSpec(_Strict):
    name: str = Field(min_length=1)
    queue: str
    id: str | None = None  # None -> a stable UUID derived from the name
    description: str = ""


class DefinitionSpec(_Strict):
    name: str = Field(min_length=1)
    id: str | None = None
    description: str = ""
    code: str = "/* emulated job: runs for its profile's time */\ndata _null_; run;"


class JobProfile(_Strict):
    """How one job behaves: sequential elapsed time and the resource figures it reports."""

    elapsed_s: float = Field(gt=0)  # Job Execution elapsedTime when run alone
    cores: float = Field(default=0.15, ge=0)
    memory_mb: float = Field(default=250.0, ge=0)
    cpu_time_s: float | None = Field(default=None, ge=0)
    max_memory: float | None = Field(default=None, ge=0)


ErrorStatus = Literal[500, 502, 503]
Grant = Literal["password", "client_credentials", "refresh_token", "authorization_code"]


def _all_errors() -> list[ErrorStatus]:
    return [500, 502, 503]


def _user_grants() -> list[Grant]:
    return ["password", "refresh_token", "authorization_code"]


class FaultRule(_Strict):
    """Faults for the endpoints matching ``endpoint`` ("METHOD /path/template", fnmatch globs)."""

    endpoint: str = "*"
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_statuses: list[ErrorStatus] = Field(default_factory=_all_errors)
    throttle_rate: float = Field(default=0.0, ge=0, le=1)  # 429 with Retry-After
    retry_after_s: int = Field(default=1, ge=0)
    reset_rate: float = Field(default=0.0, ge=0, le=1)  # TCP reset, no response
    latency_ms: float = Field(default=0.0, ge=0)  # real milliseconds added before answering
    drop_reply_rate: float = Field(default=0.0, ge=0, le=1)  # POST processed, reply dropped
    garbage_rate: float = Field(default=0.0, ge=0, le=1)  # 200 whose body is not JSON
    # when the rule acts: model s after the faults were applied, for this long (None: always)
    active_from_s: float = Field(default=0.0, ge=0)
    active_for_s: float | None = Field(default=None, gt=0)


class OutageSpec(_Strict):
    start_s: float = Field(default=0.0, ge=0)  # model s after the faults were applied
    duration_s: float = Field(gt=0)


class FaultsSpec(_Strict):
    seed: int = 0
    rules: list[FaultRule] = Field(default_factory=list)
    job_failure_rate: float = Field(default=0.0, ge=0, le=1)
    orchestrator_outage: OutageSpec | None = None
    # jobs (fnmatch on the job name) whose endTimeStamp is served this many model s before creation
    impossible_end_jobs: list[str] = Field(default_factory=list)
    impossible_end_s: float = Field(default=90.0, gt=0)


class ClientSpec(_Strict):
    secret: str = ""
    grants: list[Grant] = Field(default_factory=_user_grants)
    scope: list[str] = Field(default_factory=lambda: ["openid", "uaa.user"])


def _default_clients() -> dict[str, ClientSpec]:
    return {
        "sas.cli": ClientSpec(),
        "sas.ec": ClientSpec(),
        "jes-runner": ClientSpec(
            secret="jes-runner-secret",
            grants=["password", "client_credentials", "refresh_token", "authorization_code"],
        ),
    }


class AuthSpec(_Strict):
    access_token_lifetime_s: float = Field(default=3599.0, gt=0)  # real seconds
    refresh_token_lifetime_s: float = Field(default=90 * DAY_S, gt=0)  # real seconds
    clients: dict[str, ClientSpec] = Field(default_factory=_default_clients)
    # UAA's refresh-token rotation (off by default, as on SASLogon): each refresh
    # grant answers a new refresh token and revokes the one it was given
    rotate_refresh_tokens: bool = False
    # SASLogon's clock minus the real one (real seconds): -7200 is a client clock 2 h ahead of
    # Viya's. Shifts the tokens' iat/exp and SASLogon's own expiry checks, nothing else.
    clock_offset_s: float = Field(default=0.0, ge=-30 * DAY_S, le=30 * DAY_S)


class KubeSecretSpec(_Strict):
    namespace: str = "default"
    name: str = Field(min_length=1)
    string_data: dict[str, str] = Field(default_factory=dict)  # stored base64 in ``data``


class KubernetesSpec(_Strict):
    """The emulator's small Kubernetes API (``/api/v1/...``, see ``k8s.py``)."""

    token: str | None = None  # bearer token required on /api/ (None: no check)
    forbidden: bool = False  # answer 403 to every /api/ request (a pod without RBAC)
    event_window: int = Field(default=1000, ge=1)  # watch events kept (older: 410)
    bookmark_interval_s: float = Field(default=1.0, gt=0)  # real s, with allowWatchBookmarks
    instance_type: str | None = None  # None: Standard_D/E<cores>s_v5 from the pool's size
    secrets: list[KubeSecretSpec] = Field(default_factory=list)


class Scenario(_Strict):
    name: str = "custom"
    description: str = ""
    speed_factor: float = Field(default=0.005, gt=0)  # real seconds per model second
    seed: int = 0  # ids, job-failure draws, per-job and per-node noise
    registration_lag_s: float = Field(default=3.0, ge=0)  # submit -> visible in orchestrator
    completion_lag_s: float = Field(default=1.0, ge=0)  # orchestrator end -> JES terminal
    start_overhead_s: float = Field(default=6.0, ge=0)  # compute server start alone (median)
    # start-up on a busy node: median start_overhead_s * max(1, CPU demand / cores) ** exponent,
    # log-normal around it with sigma start_sigma (fitted: docs/CALIBRATION.md)
    start_load_exponent: float = Field(default=0.0, ge=0, le=3)
    start_sigma: float = Field(default=0.0, ge=0, le=3)
    # a starting job loads its node with this share of its running CPU demand (fitted: on the
    # saturated node, jobs starting beside running ones took 15-149 s, beside starting ones 12-25 s)
    start_cpu_share: float = Field(default=1.0, ge=0, le=1)
    run_noise_sigma: float = Field(default=0.0, ge=0, le=2)  # per-job run-work noise (log sigma)
    default_cpu_demand: float = Field(default=1.0, gt=0, le=64)  # cores of a job without cpu_time_s
    # share of run work done before a failure
    failed_run_fraction: float = Field(default=0.3, gt=0, le=1)
    default_job: JobProfile = Field(default_factory=lambda: JobProfile(elapsed_s=40.0))
    profile: str | None = "pooled54"  # builtin name or JSON path (relative to the scenario)
    jobs: dict[str, JobProfile] = Field(default_factory=dict)  # override / add profiles
    # memory bound of a long-lived emulator: jobs that ended this many *real* seconds ago are
    # forgotten (API, orchestrator listing and ground truth alike); a test run ends long before
    job_retention_s: float = Field(default=3600.0, gt=0, le=30 * DAY_S)
    pools: dict[str, PoolSpec]
    queues: dict[str, QueueSpec]
    contexts: list[ContextSpec] = Field(min_length=1)
    definitions: list[DefinitionSpec] | None = None  # None -> one per profile + "failing_job"
    faults: FaultsSpec = Field(default_factory=FaultsSpec)
    auth: AuthSpec = Field(default_factory=AuthSpec)
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)
    source: str = Field(default="<memory>", exclude=True)  # where it was loaded from

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        for qname, q in self.queues.items():
            for p in q.pools:
                if p not in self.pools:
                    raise ValueError(
                        f"queues.{qname}.pools: unknown pool '{p}' (known: {', '.join(self.pools)})"
                    )
        names = set()
        for i, c in enumerate(self.contexts):
            if c.queue not in self.queues:
                raise ValueError(
                    f"contexts.{i}.queue: unknown queue '{c.queue}' (known: {', '.join(self.queues)})"
                )
            if c.name in names:
                raise ValueError(f"contexts.{i}.name: duplicate context '{c.name}'")
            names.add(c.name)
        return self

    def profiles(self) -> dict[str, JobProfile]:
        """Builtin/file profile merged with the inline ``jobs`` overrides."""
        base = dict(_load_profile(self.profile, self.source)) if self.profile else {}
        base.update(self.jobs)
        return base

    def definition_specs(self) -> list[DefinitionSpec]:
        if self.definitions is not None:
            return list(self.definitions)
        specs = [DefinitionSpec(name=n, description=f"Emulated job {n}") for n in self.profiles()]
        specs.append(
            DefinitionSpec(
                name="failing_job",
                description="Always fails: its code aborts (emulator demo of a failed job).",
                code="data _null_; abort abend 4; run;",
            )
        )
        return specs


def _data_text(name: str) -> str:
    return resources.files("jes_runner.sim").joinpath("data").joinpath(name).read_text("utf-8")


@lru_cache(maxsize=8)
def _load_profile(ref: str, source: str) -> tuple[tuple[str, JobProfile], ...]:
    if ref in BUILTIN_PROFILES:
        raw = json.loads(_data_text(BUILTIN_PROFILES[ref]))
        where = f"builtin profile '{ref}'"
    else:
        path = Path(ref)
        if not path.is_absolute() and source not in ("<memory>", "<default>"):
            path = Path(source).parent / path
        where = str(path)
        try:
            raw = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError, RecursionError) as e:
            raise ConfigError(
                f"{source}: profile: cannot read {where} ({e}); fix: give a builtin name ({', '.join(BUILTIN_PROFILES)}) or a JSON file with a 'jobs' map"
            ) from e
    jobs = raw.get("jobs", raw) if isinstance(raw, dict) else None
    if not isinstance(jobs, dict):
        raise ConfigError(
            f"{source}: profile {where}: jobs: expected a map of job name -> profile;"
            ' fix: a JSON object {"jobs": {name: {"elapsed_s": ...}}}'
        )
    out = []
    for name, spec in jobs.items():
        try:
            out.append((name, JobProfile.model_validate(spec)))
        except ValidationError as e:
            raise ConfigError(
                f"{source}: profile {where}: jobs.{name}: {_first_error(e)};"
                " fix that job's profile (elapsed_s > 0, cores, memory_mb, ...)"
            ) from e
    return tuple(out)


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def parse_scenario(data: Any, source: str = "<memory>") -> Scenario:
    """Validate a scenario mapping; ``source`` names the file in error messages."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level; fix: start the file with 'pools:', 'queues:', 'contexts:'"
        )
    try:
        sc = Scenario.model_validate({**data, "source": source})
    except ValidationError as e:
        raise ConfigError(
            f"{source}: {_first_error(e)}; fix: see jes_runner/sim/data/default_scenario.yaml"
        ) from e
    sc.profiles()  # surface profile errors at load time
    return sc


def load_scenario(path: str | Path) -> Scenario:
    """Load a YAML or JSON scenario file (errors: one line naming file and field)."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{p}: not UTF-8 text (byte {e.start}); fix: save the scenario as UTF-8 YAML or JSON"
        ) from None
    except OSError as e:
        raise ConfigError(
            f"{p}: cannot read scenario file ({e.strerror}); fix: pass an existing YAML/JSON file to --scenario"
        ) from e
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply to be a scenario; fix the file") from None
    except (ValueError, yaml.YAMLError) as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}"
        elif isinstance(e, json.JSONDecodeError):
            where = f" at line {e.lineno}"
        raise ConfigError(
            f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}{where}; fix the syntax"
        ) from e
    return parse_scenario(data, str(p))


def default_scenario() -> Scenario:
    """The shipped scenario mirroring the measured AKS cluster (see docs/CALIBRATION.md)."""
    data = yaml.safe_load(_data_text(DEFAULT_SCENARIO_FILE))
    return parse_scenario(data, "<default>")

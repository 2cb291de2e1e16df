"""The subcommands, one module each, imported only when that command runs (pip's way).

``SUMMARIES`` is the one place a command's one-line help lives: ``jes-runner --help``
lists it without importing any command module, and each module's ``register``
uses it for its own parser. Each module exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (parsed args -> exit code).
"""

SUMMARIES: dict[str, str] = {
    "emulator": "run the embedded SAS Viya emulator in the foreground",
    "run": "run a comparison (phases of jobs) against Viya",
    "demo": "run the default comparison against the embedded emulator",
    "discover": "write a job config from the job definitions matching a pattern",
    "auth": "log in to SASLogon and store the tokens (files, Secret or manifest)",
    "push": "push an existing results file to the Pushgateway",
    "report": "HTML report and PNG figures from a results file",
    "export": "results file as CSV or Excel: one row per job, summary per phase",
    "compare": "compare two results files; exit 6 when a figure regressed beyond tolerance",
    "trend": "series of every run on a results volume; exit 6 when the last run regressed",
    "orchestrator": "recent Workload Orchestrator jobs: queue wait, run time, host, cores, memory",
    "sweep": "run the concurrent phase at several concurrency levels and find the knee",
    "whatif": "fit the cluster model to a measured run; replay node counts and concurrency levels",
    "recover": "a dead run's checkpoint as a results file (status aborted), correlation redone",
    "check": "preflight: Viya, token, contexts, job definitions, Pushgateway, results directory",
}

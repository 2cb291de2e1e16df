"""The chart lints and renders with Helm 4 and Helm 3 for the default values and
every ci/*-values.yaml scenario; every manifest validates against the Kubernetes
1.33 schemas (strict, offline); CRD kinds are checked structurally (and their
rules with promtool); every pod spec meets the "restricted" Pod Security Standard.
"""

from __future__ import annotations

import re
import subprocess
import tarfile

import kubernetes_validate
import pytest
import yaml
from deploy_util import CHART, SCENARIOS, by_kind, env_of, one, pod_specs, require_tool

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

K8S_VERSION = "1.33.0"
# Custom resources have no schema in kubernetes-validate: checked structurally below.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint(helm, scenario):
    proc = helm.run("lint", str(CHART), "--strict", *helm.value_args(scenario))
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_manifests_validate_against_kubernetes_schemas(helm, scenario):
    docs = helm.template(scenario)
    assert docs, "nothing rendered"
    kinds = set()
    for doc in docs:
        kind, api = doc.get("kind"), doc.get("apiVersion")
        kinds.add(kind)
        if (api, kind) in CRD_KINDS:
            (check_prometheus_rule if kind == "PrometheusRule" else check_service_monitor)(doc)
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            pytest.fail(
                f"{scenario}: {kind}/{doc['metadata']['name']} invalid at {path}: {e.message}",
                pytrace=False,
            )
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(
                f"{scenario}: no Kubernetes {K8S_VERSION} schema: {e.message}", pytrace=False
            )
    assert {"CronJob", "Pod"} <= kinds


def check_service_monitor(doc: dict) -> None:
    """Structural check of a monitoring.coreos.com/v1 ServiceMonitor (the fields the chart sets)."""
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}
    assert doc["metadata"]["name"] and doc["metadata"]["namespace"]
    spec = doc["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    assert all(isinstance(v, str) for v in spec["selector"]["matchLabels"].values())
    if "namespaceSelector" in spec:
        assert set(spec["namespaceSelector"]) <= {"matchNames", "any"}
    for ep in spec["endpoints"]:
        assert set(ep) <= {"port", "honorLabels", "interval", "path", "scheme"}
        assert isinstance(ep["port"], str) and ep["honorLabels"] is True
        if "interval" in ep:
            assert DURATION.match(ep["interval"]), ep["interval"]


def check_prometheus_rule(doc: dict) -> None:
    """Structural check of a monitoring.coreos.com/v1 PrometheusRule (its CRD's schema, by hand)."""
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}
    assert doc["metadata"]["name"] and doc["metadata"]["namespace"]
    assert all(isinstance(v, str) for v in doc["metadata"].get("labels", {}).values())
    assert set(doc["spec"]) == {"groups"}
    groups = doc["spec"]["groups"]
    assert isinstance(groups, list) and groups, "PrometheusRule without groups"
    names = [g["name"] for g in groups]
    assert len(names) == len(set(names)), f"duplicate group names {names}"
    group_keys = {
        "name",
        "interval",
        "rules",
        "limit",
        "query_offset",
        "partial_response_strategy",
        "labels",
    }
    rule_keys = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
    for g in groups:
        assert set(g) <= group_keys, f"group {g['name']}: unknown keys {set(g) - group_keys}"
        assert isinstance(g["name"], str) and g["name"]
        if "interval" in g:
            assert DURATION.match(g["interval"]), g["interval"]
        assert isinstance(g["rules"], list) and g["rules"]
        for r in g["rules"]:
            assert set(r) <= rule_keys, f"rule {r}: unknown keys {set(r) - rule_keys}"
            assert ("alert" in r) != ("record" in r), f"rule needs exactly one of alert/record: {r}"
            assert isinstance(r["expr"], (str, int)) and str(r["expr"]).strip()
            if "for" in r:
                assert DURATION.match(r["for"]), r["for"]
            for field in ("labels", "annotations"):
                assert all(isinstance(v, str) for v in r.get(field, {}).values()), (field, r)
            if "record" in r:
                assert "annotations" not in r and "for" not in r


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_prometheus_rules_pass_promtool(helm, scenario, tmp_path):
    rules = by_kind(helm.template(scenario), "PrometheusRule")
    if not rules:
        return
    promtool = require_tool("promtool")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules[0]["spec"]))
    proc = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_spec_is_pss_restricted(helm, scenario):
    specs = pod_specs(helm.template(scenario))
    assert {w.split("/")[0] for w, _ in specs} == {"CronJob", "Pod"}, "CronJob pod and test pod"
    for where, spec in specs:
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, where
        assert isinstance(psc["runAsUser"], int) and psc["runAsUser"] > 0, where
        assert isinstance(psc["runAsGroup"], int) and psc["runAsGroup"] > 0, where
        assert isinstance(psc["fsGroup"], int) and psc["fsGroup"] > 0, where
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", where
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), (where, key)
        volumes = {v["name"]: v for v in spec["volumes"]}
        for v in volumes.values():
            assert "hostPath" not in v, where
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where
            assert not sc.get("privileged"), where
            assert sc.get("runAsNonRoot", True) is True, where
            assert sc.get("runAsUser", 1) != 0, where
            assert sc.get("seccompProfile", {"type": "RuntimeDefault"})["type"] in (
                "RuntimeDefault",
                "Localhost",
            ), where
            mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]], (
                f"{where}: /tmp is not an emptyDir"
            )
            for m in c["volumeMounts"]:
                if m["mountPath"] == "/var/run/secrets/jes":
                    assert m["readOnly"] is True, where


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_cronjob_runs_once_and_outlasts_the_runners_grace(helm, scenario):
    docs = helm.template(scenario)
    cj = by_kind(docs, "CronJob")[0]["spec"]  # with `targets`: the first, which `helm test` checks
    job = cj["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert cj["concurrencyPolicy"] == "Forbid"
    assert job["backoffLimit"] == 0, "a retry would resubmit the SAS jobs"
    assert pod["restartPolicy"] == "Never"
    assert cj["successfulJobsHistoryLimit"] >= 0 and cj["failedJobsHistoryLimit"] >= 0
    assert job["activeDeadlineSeconds"] > 0
    grace = float(env_of(pod["containers"][0])["JES_GRACE_PERIOD_SECONDS"])
    assert grace == runner_grace(scenario)
    assert pod["terminationGracePeriodSeconds"] > grace
    # the helm test pod runs the preflight with the same env and secrets
    test_pod = one(docs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    tspec = test_pod["spec"]
    assert tspec["containers"][0]["args"] == ["check"]
    assert tspec["restartPolicy"] == "Never"
    assert tspec["containers"][0]["env"] == pod["containers"][0]["env"]
    assert tspec["containers"][0]["volumeMounts"] == pod["containers"][0]["volumeMounts"]
    # ... but never the results PVC: a ReadWriteOnce claim held by a running Job would not attach
    # (Multi-Attach); `check` only needs a writable directory there
    results = {"name": "results", "emptyDir": {}}
    assert results in tspec["volumes"]
    assert [v for v in tspec["volumes"] if v["name"] != "results"] == [
        v for v in pod["volumes"] if v["name"] != "results"
    ]
    assert not [v for v in tspec["volumes"] if "persistentVolumeClaim" in v]
    assert tspec["containers"][0]["image"] == pod["containers"][0]["image"]
    assert tspec["serviceAccountName"] == pod["serviceAccountName"]


def runner_grace(scenario: str) -> int:
    """runner.gracePeriodSeconds of a scenario (its file, else values.yaml)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    if scenario != "default":
        over = yaml.safe_load((CHART / "ci" / scenario).read_text())
        values["runner"].update(over.get("runner", {}))
    return int(values["runner"]["gracePeriodSeconds"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_standard_labels(helm, scenario):
    for doc in helm.template(scenario):
        labels = doc["metadata"].get("labels", {})
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert key in labels, f"{doc['kind']}/{doc['metadata']['name']} lacks {key}"


def test_chart_packages_without_ci_scenarios(helm, tmp_path):
    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (pkg,) = tmp_path.glob("jes-runner-*.tgz")
    with tarfile.open(pkg) as t:
        names = t.getnames()
    assert "jes-runner/values.schema.json" in names
    assert "jes-runner/files/grafana-dashboard.json" in names
    assert "jes-runner/files/prometheus-rules.yaml" in names
    assert "jes-runner/templates/tests/test-check.yaml" in names
    assert not [n for n in names if n.startswith("jes-runner/ci/")]

"""What the chart's values do: the schema rejects typos and wrong types; the
settings, secrets, job config, volume, RBAC, network policy, dashboard and rules
come out as documented; NOTES.txt and the README's values table are right."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
import yaml
from deploy_util import CHART, REPO, by_kind, env_of, one, pod_specs

from jes_runner.config.settings import Settings


@pytest.mark.parametrize(
    "sets, expected",
    [
        ({"cronjob.suspend": "yes"}, "suspend"),  # wrong type
        ({"cronjob.schedul": "* * * * *"}, "schedul"),  # typo, nested
        ({"imagePullSecret[0].name": "x"}, "imagePullSecret"),  # typo, top level
        ({"runner.viyaURL": "https://v"}, "viyaURL"),  # wrong case
        ({"runner.logFormat": "xml"}, "logFormat"),  # not in the enum
        ({"runner.gracePeriodSeconds": "soon"}, "gracePeriodSeconds"),
        ({"runner.phases[0].name": "a"}, "context"),  # phase without its context
        (
            {
                "runner.phases[0].name": "a",
                "runner.phases[0].context": "c",
                "runner.phases[0].mode": "parallel",
            },
            "mode",
        ),
        ({"persistence.accessModes[0]": "ReadWriteSometimes"}, "accessModes"),
        ({"credentials.existingSecretKeys.token": "x"}, "token"),  # not a runner file
        ({"networkPolicy.viya.cidrs[0]": "10.0.0.1"}, "cidrs"),  # not a CIDR
        ({"prometheusRule.rules.JesNoRecentSuccess.for": "an hour"}, "for"),
        ({"prometheusRule.rules.JesNoRecentSuccess.severity": "critical"}, "severity"),
        ({"securityContext.readOnlyRootFileSystem": "true"}, "readOnlyRootFileSystem"),
        ({"image.pullPolicy": "Sometimes"}, "pullPolicy"),
    ],
)
def test_schema_rejects_bad_values(helm, sets, expected):
    err = helm.template_fails(sets=sets)
    assert expected in err, err


def test_termination_grace_must_outlast_the_runners_grace(helm):
    err = helm.template_fails(
        sets={"runner.gracePeriodSeconds": "120", "cronjob.terminationGracePeriodSeconds": "60"}
    )
    assert "must be longer than runner.gracePeriodSeconds" in err


def test_default_grace_follows_the_runner(helm):
    spec = pod_specs(helm.template(sets={"runner.gracePeriodSeconds": "300"}))[0][1]
    assert spec["terminationGracePeriodSeconds"] == 330


def runner_container(docs):
    return one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]


def test_settings_become_env_that_the_runner_reads(helm, write_values):
    phases = [
        {
            "name": "sequential",
            "context": "SAS Job Execution compute context",
            "mode": "sequential",
            "baseline": True,
        },
        {"name": "async", "context": "Autoscaling POC Context", "mode": "window", "concurrency": 8},
    ]
    values = {
        "runner": {
            "viyaUrl": "https://viya.example.com",
            "pushgatewayUrl": "http://pgw.monitoring:9091",
            "verifyTls": False,
            "caBundle": {"configMap": "viya-ca"},
            "cluster": "aks-weu",
            "environment": "prod",
            "phases": phases,
            "gracePeriodSeconds": 45,
        },
        "persistence": {"mountPath": "/data/results"},
        "jobConfig": {"inline": {"jobs": [{"name": "cm_pooled", "enabled": True}]}},
    }
    env = env_of(runner_container(helm.template(values=[write_values(values)])))
    assert env["JES_VIYA_URL"] == "https://viya.example.com"
    assert env["JES_PUSHGATEWAY_URL"] == "http://pgw.monitoring:9091"
    assert env["JES_VERIFY_TLS"] == "false"
    assert env["JES_CA_BUNDLE"] == "/etc/jes-runner/ca/ca.crt"
    assert env["JES_CLUSTER"] == "aks-weu" and env["JES_ENVIRONMENT"] == "prod"
    assert json.loads(env["JES_PHASES"]) == phases
    assert env["JES_OUTPUT_DIR"] == "/data/results"
    assert env["JES_SECRETS_DIR"] == "/var/run/secrets/jes"
    assert env["JES_JOB_CONFIG"] == "/etc/jes-runner/config/job_configs.json"
    assert env["JES_LOG_FORMAT"] == "json"
    assert env["JES_GRACE_PERIOD_SECONDS"] == "45"
    # token write-back into the chart's Secret (the Role allows exactly that) and the node timeline
    assert env["JES_PERSIST_TOKENS"] == "secret"
    assert env["JES_TOKEN_SECRET_NAME"] == "jes-jes-runner"
    assert env["JES_TOKEN_SECRET_NAMESPACE"] == "sas-bench"
    assert env["JES_NODE_TIMELINE"] == "auto"
    # every JES_* variable the chart sets is a setting the runner reads (settings.py is authoritative)
    known = {f"JES_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith("JES_") and k not in known)
    assert not unknown, f"the chart sets env the runner does not read: {unknown}"
    # and the runner accepts their values (files that exist only in the pod left out)
    in_pod_files = {"JES_CA_BUNDLE", "JES_JOB_CONFIG"}
    plain = {k: v for k, v in env.items() if isinstance(v, str) and k not in in_pod_files}
    s = Settings(
        _env_file=None,
        **{k[4:].lower(): v for k, v in plain.items() if k[4:].lower() in Settings.model_fields},
    )
    assert [p.name for p in s.phases] == ["sequential", "async"]
    assert s.verify_tls is False and s.log_format == "json"


@pytest.fixture
def write_values(tmp_path):
    """Writes a values file into the test's temp dir and returns its path."""
    counter = iter(range(1000))

    def write(values: dict):
        path = tmp_path / f"values-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    return write


def test_default_job_config_is_the_images(helm):
    docs = helm.template()
    assert "JES_JOB_CONFIG" not in env_of(runner_container(docs)), "the image sets it"
    assert not [d for d in by_kind(docs, "ConfigMap")]


def test_inline_job_config_is_a_configmap_mounted_as_a_file(helm, write_values):
    jobs = {
        "jobs": [
            {
                "name": "cm_pooled",
                "context_name": "SAS Job Execution compute context",
                "enabled": True,
                "arguments": {"_contextName": "SAS Job Execution compute context"},
            }
        ]
    }
    docs = helm.template(values=[write_values({"jobConfig": {"inline": jobs}})])
    cm = one(docs, "ConfigMap")
    assert json.loads(cm["data"]["job_configs.json"]) == jobs
    c = runner_container(docs)
    spec = pod_specs(docs)[0][1]
    vol = next(v for v in spec["volumes"] if v.get("configMap"))
    assert vol["configMap"]["name"] == cm["metadata"]["name"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == vol["name"])
    assert mount["readOnly"] is True
    assert env_of(c)["JES_JOB_CONFIG"] == f"{mount['mountPath']}/job_configs.json"


def test_existing_configmap_with_its_own_key(helm):
    docs = helm.template("existing-claim-values.yaml")
    assert not by_kind(docs, "ConfigMap")
    spec = pod_specs(docs)[0][1]
    vol = next(v for v in spec["volumes"] if v.get("configMap"))
    assert vol["configMap"] == {
        "name": "jes-job-config",
        "items": [{"key": "jobs.json", "path": "jobs.json"}],
    }
    assert env_of(runner_container(docs))["JES_JOB_CONFIG"] == "/etc/jes-runner/config/jobs.json"


def test_created_secret_holds_the_runners_files(helm, write_values):
    values = {
        "credentials": {
            "username": "sasdemo",
            "password": "pw",
            "clientId": "jes",
            "clientSecret": "cs",
            "refreshToken": "rt",
            "accessToken": "at",
        }
    }
    docs = helm.template(values=[write_values(values)])
    secret = one(docs, "Secret")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "username": "sasdemo",
        "password": "pw",
        "client_id": "jes",
        "client_secret": "cs",
        "refresh_token": "rt",
        "access_token": "at",
    }
    spec = pod_specs(docs)[0][1]
    vol = next(v for v in spec["volumes"] if v["name"] == "credentials")
    assert vol["secret"]["secretName"] == secret["metadata"]["name"]
    assert "items" not in vol["secret"]
    role = one(docs, "Role")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [secret["metadata"]["name"]],
            "verbs": ["get", "patch"],
        }
    ]
    binding = one(docs, "RoleBinding")
    assert binding["subjects"][0]["name"] == spec["serviceAccountName"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_existing_secret_with_key_mapping(helm):
    docs = helm.template("existing-secret-values.yaml")
    assert not by_kind(docs, "Secret")
    spec = pod_specs(docs)[0][1]
    vol = next(v for v in spec["volumes"] if v["name"] == "credentials")
    assert vol["secret"]["secretName"] == "viya-oauth"
    assert sorted(vol["secret"]["items"], key=lambda i: i["path"]) == [
        {"key": "client", "path": "client_id"},
        {"key": "secret", "path": "client_secret"},
        {"key": "token", "path": "refresh_token"},
    ]
    assert one(docs, "Role")["rules"][0]["resourceNames"] == ["viya-oauth"]


def test_results_volume(helm):
    docs = helm.template(
        sets={"persistence.storageClass": "managed-csi", "persistence.size": "5Gi"}
    )
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["storageClassName"] == "managed-csi"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    spec = pod_specs(docs)[0][1]
    vol = next(v for v in spec["volumes"] if v["name"] == "results")
    assert vol["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    # existing claim: no PVC created, that one mounted
    docs = helm.template("existing-claim-values.yaml")
    assert not by_kind(docs, "PersistentVolumeClaim")
    vol = next(v for v in pod_specs(docs)[0][1]["volumes"] if v["name"] == "results")
    assert vol["persistentVolumeClaim"]["claimName"] == "jes-results-azurefile"


def test_rbac_switches(helm):
    default = helm.template()
    assert {d["kind"] for d in default} >= {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    }
    cr = one(default, "ClusterRole")
    assert cr["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}
    ]
    off = helm.template("rbac-off-values.yaml")
    kinds = {d["kind"] for d in off}
    assert not kinds & {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Secret",
        "PersistentVolumeClaim",
    }
    spec = pod_specs(off)[0][1]
    assert spec["serviceAccountName"] == "jes-runner-sa"
    assert spec["automountServiceAccountToken"] is False
    no_nodes = helm.template(sets={"rbac.nodeReader": "false"})
    assert not by_kind(no_nodes, "ClusterRole") and by_kind(no_nodes, "Role")
    no_wb = helm.template(sets={"rbac.tokenWriteBack": "false"})
    assert not by_kind(no_wb, "Role") and by_kind(no_wb, "ClusterRole")


def test_network_policy(helm):
    assert not by_kind(helm.template(), "NetworkPolicy")
    docs = helm.template("network-policy-values.yaml")
    np = one(docs, "NetworkPolicy")["spec"]
    assert np["policyTypes"] == ["Ingress", "Egress"] and np["ingress"] == []
    pod_labels = pod_specs(docs)[0]
    cj = one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert all(cj.get(k) == v for k, v in np["podSelector"]["matchLabels"].items())
    test_pod = one(docs, "Pod")["metadata"]["labels"]
    assert all(test_pod.get(k) == v for k, v in np["podSelector"]["matchLabels"].items())
    egress = np["egress"]
    assert egress[0] == {
        "ports": [{"port": 443, "protocol": "TCP"}],
        "to": [{"ipBlock": {"cidr": "10.240.0.0/16"}}],
    }
    assert egress[1]["ports"] == [{"port": 9091, "protocol": "TCP"}]
    assert egress[1]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    assert {p["port"] for p in egress[2]["ports"]} == {53}
    assert egress[3]["to"] == [{"ipBlock": {"cidr": "172.16.0.1/32"}}]
    assert len(egress) == 4 and pod_labels


def test_grafana_dashboard_is_the_single_copy(helm):
    assert not by_kind(helm.template(), "ConfigMap")
    docs = helm.template("monitoring-values.yaml")
    cm = one(docs, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "SAS Viya"}
    ((name, body),) = cm["data"].items()
    assert name.endswith(".json")
    assert body == (CHART / "files" / "grafana-dashboard.json").read_text().strip()
    dash = json.loads(body)
    assert dash["title"] and "panels" in dash
    custom = helm.template(
        sets={
            "grafanaDashboard.enabled": "true",
            "grafanaDashboard.label": "dash",
            "grafanaDashboard.labelValue": "yes",
        }
    )
    assert one(custom, "ConfigMap")["metadata"]["labels"]["dash"] == "yes"


def test_prometheus_rule_is_the_single_copy_with_parameters(helm, write_values):
    source = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    docs = helm.template("monitoring-values.yaml")
    rule = one(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["namespace"] == "monitoring"
    groups = rule["spec"]["groups"]
    assert [g["name"] for g in groups] == [g["name"] for g in source["groups"]] + [
        "jes-runner-extra"
    ]
    for g, src in zip(groups, source["groups"], strict=False):
        assert g["interval"] == "5m"
        assert [r.get("alert", r.get("record")) for r in g["rules"]] == [
            r.get("alert", r.get("record")) for r in src["rules"]
        ]
        for r, s in zip(g["rules"], src["rules"], strict=True):
            assert r["expr"] == s["expr"]
            if "alert" in r:
                assert r["labels"]["team"] == "sas-platform"
                assert r["annotations"] == s.get("annotations", {})
    # per-rule overrides: for, labels, expr, disable
    first = next(r for g in source["groups"] for r in g["rules"] if "alert" in r)
    name = first["alert"]
    values = {
        "prometheusRule": {
            "enabled": True,
            "rules": {
                name: {"for": "3h", "labels": {"severity": "critical"}, "expr": "vector(1) > 0"}
            },
        }
    }
    docs = helm.template(values=[write_values(values)])
    r = next(
        r
        for g in one(docs, "PrometheusRule")["spec"]["groups"]
        for r in g["rules"]
        if r.get("alert") == name
    )
    assert (r["for"], r["labels"]["severity"], r["expr"]) == ("3h", "critical", "vector(1) > 0")
    docs = helm.template(
        values=[
            write_values({"prometheusRule": {"enabled": True, "rules": {name: {"enabled": False}}}})
        ]
    )
    names = [
        r.get("alert")
        for d in by_kind(docs, "PrometheusRule")
        for g in d["spec"]["groups"]
        for r in g["rules"]
    ]
    assert name not in names


def test_notes_say_how_to_run_now_and_where_results_go(helm4):
    proc = helm4.run(
        "install",
        "jes",
        str(CHART),
        "--dry-run=client",
        "--namespace",
        "sas-bench",
        "--set",
        "runner.viyaUrl=https://viya.example.com",
    )
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n sas-bench create job --from=cronjob/jes-jes-runner" in notes
    assert "helm test jes" in notes
    assert "/results" in notes and "jes-jes-runner-results" in notes
    assert "WARNING" not in notes
    proc = helm4.run(
        "install",
        "jes",
        str(CHART),
        "--dry-run=client",
        "--set",
        "persistence.enabled=false",
        "--set",
        "runner.viyaUrl=https://viya.example.com",
    )
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "LOST" in notes


def test_viya_url_is_required(helm):
    """No URL, no release: the runner would refuse to start (it never falls back to the emulator)."""
    for sets in ({"runner.viyaUrl": ""}, {"runner.viyaUrl": "viya.example.com"}):
        err = helm.template_fails(sets=sets)
        assert "viyaUrl" in err, err


def test_chart_readme_values_table_is_current():
    proc = subprocess.run(
        [sys.executable, str(REPO / ".ci" / "chart-docs"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_value_is_in_the_schema():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(v, s, path):
        if isinstance(v, dict) and s.get("additionalProperties") is False:
            for k, sub in v.items():
                assert k in s["properties"], f"{path}.{k} missing from values.schema.json"
                walk(sub, s["properties"][k], f"{path}.{k}")

    walk(values, schema, "")


def test_prometheus_rule_parameters_substitute_the_files_tokens(helm, write_values, tmp_path):
    raw = (CHART / "files" / "prometheus-rules.yaml").read_text()
    assert "2 * 86400" in raw and "0.8 * quantile_over_time" in raw, (
        "tokens documented in files/README.md"
    )
    values = {
        "prometheusRule": {
            "enabled": True,
            "scheduleIntervalSeconds": 604800,
            "scheduleMultiple": 1.5,
            "speedupFraction": 0.5,
        }
    }
    rule = one(helm.template(values=[write_values(values)]), "PrometheusRule")
    exprs = "\n".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    assert "2 * 86400" not in exprs and "0.8 * quantile_over_time" not in exprs
    source_exprs = "\n".join(r["expr"] for g in yaml.safe_load(raw)["groups"] for r in g["rules"])
    assert exprs.count("1.5 * 604800") == source_exprs.count("2 * 86400") > 0
    assert (
        exprs.count("0.5 * quantile_over_time")
        == source_exprs.count("0.8 * quantile_over_time")
        > 0
    )
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    proc = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the defaults leave the file's expressions as they are
    default = one(helm.template("monitoring-values.yaml"), "PrometheusRule")
    source = yaml.safe_load(raw)
    assert [r["expr"] for r in default["spec"]["groups"][0]["rules"]] == [
        r["expr"] for r in source["groups"][0]["rules"]
    ]


def test_rbac_off_means_no_write_back_and_no_node_watch(helm):
    env = env_of(runner_container(helm.template("rbac-off-values.yaml")))
    assert env["JES_PERSIST_TOKENS"] == "off"
    assert "JES_TOKEN_SECRET_NAME" not in env
    assert env["JES_NODE_TIMELINE"] == "orchestrator"
    env = env_of(runner_container(helm.template("existing-secret-values.yaml")))
    assert env["JES_TOKEN_SECRET_NAME"] == "viya-oauth"


def test_extra_env_replaces_the_charts_own_entry(helm, write_values):
    values = {
        "runner": {"logFormat": "json"},
        "extraEnv": [
            {"name": "JES_LOG_FORMAT", "value": "text"},
            {"name": "JES_JOB_TIMEOUT_S", "value": "600"},
        ],
    }
    c = runner_container(helm.template(values=[write_values(values)]))
    names = [e["name"] for e in c["env"]]
    assert len(names) == len(set(names)), f"duplicate env names: {names}"
    env = env_of(c)
    assert env["JES_LOG_FORMAT"] == "text" and env["JES_JOB_TIMEOUT_S"] == "600"

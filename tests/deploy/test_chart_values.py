"""What the chart's values do: the schema rejects typos and wrong types; the
settings, secrets, job config, volume, RBAC, network policy, dashboard and rules
come out as documented; NOTES.txt and the README's values table are right."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time

import pytest
import yaml
from deploy_util import CHART, REPO, by_kind, env_of, one, pod_specs

from jes_runner.config.settings import Settings

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection


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
            "profile": "nightly",
            "thresholds": {"maxFailedJobs": 2, "minSpeedup": 1.5, "maxQueueWaitP95Seconds": 300},
            "timeouts": {
                "jobSeconds": 1800,
                "correlationDeadlineSeconds": 60,
                "requestSeconds": 20,
            },
            "pushgateway": {
                "auth": {
                    "existingSecret": "pgw-auth",
                    "usernameKey": "user",
                    "passwordKey": "pass",
                },
                "caBundle": {"secret": "pgw-ca", "key": "ca.pem"},
                "timeoutSeconds": 5,
                "retries": 1,
            },
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
    # rbac.nodeReader is off by default: the timeline comes from the orchestrator's hosts
    assert env["JES_NODE_TIMELINE"] == "orchestrator"
    assert env["JES_PROFILE"] == "nightly"
    assert (
        env["JES_MAX_FAILED_JOBS"],
        env["JES_MIN_SPEEDUP"],
        env["JES_MAX_QUEUE_WAIT_P95_SECONDS"],
    ) == ("2", "1.5", "300")
    assert (
        env["JES_JOB_TIMEOUT_S"],
        env["JES_CORRELATION_DEADLINE_S"],
        env["JES_REQUEST_TIMEOUT_S"],
    ) == ("1800", "60", "20")
    assert env["JES_PUSHGATEWAY_USERNAME"] == {"secretKeyRef": {"name": "pgw-auth", "key": "user"}}
    assert env["JES_PUSHGATEWAY_PASSWORD"] == {"secretKeyRef": {"name": "pgw-auth", "key": "pass"}}
    assert "JES_PUSHGATEWAY_TOKEN" not in env
    assert env["JES_PUSHGATEWAY_CA_BUNDLE"] == "/etc/jes-runner/pushgateway-ca/ca.pem"
    assert (env["JES_PUSHGATEWAY_TIMEOUT_S"], env["JES_PUSHGATEWAY_RETRIES"]) == ("5", "1")
    spec = one(helm.template(values=[write_values(values)]), "CronJob")["spec"]["jobTemplate"][
        "spec"
    ]["template"]["spec"]
    (ca,) = [v for v in spec["volumes"] if v["name"] == "pushgateway-ca"]
    assert ca["secret"]["secretName"] == "pgw-ca"
    (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "pushgateway-ca"]
    assert mount["mountPath"] == "/etc/jes-runner/pushgateway-ca" and mount["readOnly"]
    # every JES_* variable the chart sets is a setting the runner reads (settings.py is authoritative)
    known = {f"JES_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith("JES_") and k not in known)
    assert not unknown, f"the chart sets env the runner does not read: {unknown}"
    # and the runner accepts their values (files that exist only in the pod left out)
    in_pod_files = {"JES_CA_BUNDLE", "JES_JOB_CONFIG", "JES_PUSHGATEWAY_CA_BUNDLE"}
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


def test_job_config_from_a_file_with_set_file(helm):
    """`--set-file jobConfig.json=config/job_configs.json`: the file as it is, in a ConfigMap the pod mounts."""
    path = REPO / "config" / "job_configs.json"
    proc = helm.run(
        "template",
        "jes",
        str(CHART),
        "--namespace",
        "sas-bench",
        *helm.value_args(),
        "--set-file",
        f"jobConfig.json={path}",
    )
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    cm = one(docs, "ConfigMap")
    assert cm["data"]["job_configs.json"] == path.read_text().strip()
    c = runner_container(docs)
    vol = next(v for v in pod_specs(docs)[0][1]["volumes"] if v.get("configMap"))
    assert vol["configMap"]["name"] == cm["metadata"]["name"]
    assert env_of(c)["JES_JOB_CONFIG"] == "/etc/jes-runner/config/job_configs.json"


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"jobs": [', "jobConfig.json is not valid JSON"),
        ('{"job": []}', 'has no "jobs" list'),
    ],
)
def test_bad_job_config_file_fails_the_install(helm, tmp_path, content, message):
    path = tmp_path / "jobs.json"
    path.write_text(content)
    proc = helm.run(
        "template",
        "jes",
        str(CHART),
        *helm.value_args(),
        "--set-file",
        f"jobConfig.json={path}",
        check=False,
    )
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    both = helm.run(
        "template",
        "jes",
        str(CHART),
        *helm.value_args(),
        "--set-file",
        f"jobConfig.json={REPO / 'config' / 'job_configs.json'}",
        "--set",
        "jobConfig.inline.jobs[0].name=x",
        check=False,
    )
    assert both.returncode != 0 and "not both" in both.stderr


def test_pushgateway_service_monitor_honours_labels(helm):
    assert not [d for d in helm.template() if d["kind"] == "ServiceMonitor"]
    sm = one(helm.template("monitoring-values.yaml"), "ServiceMonitor")
    assert sm["metadata"]["namespace"] == "monitoring"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "prometheus-pushgateway"
    }
    assert sm["spec"]["namespaceSelector"] == {"matchNames": ["monitoring"]}
    assert sm["spec"]["endpoints"] == [{"port": "http", "honorLabels": True, "interval": "30s"}]


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
    # the only Secret the chart makes: the runner-owned token store, created without data
    (store,) = by_kind(docs, "Secret")
    assert store["metadata"]["name"] == "jes-jes-runner-tokens" and "data" not in store
    assert store["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    spec = pod_specs(docs)[0][1]
    vol = next(v for v in spec["volumes"] if v["name"] == "credentials")
    assert vol["secret"]["secretName"] == "viya-oauth"
    assert sorted(vol["secret"]["items"], key=lambda i: i["path"]) == [
        {"key": "client", "path": "client_id"},
        {"key": "secret", "path": "client_secret"},
        {"key": "token", "path": "refresh_token"},
    ]
    rules = one(docs, "Role")["rules"]
    assert [(r["resourceNames"], r["verbs"]) for r in rules] == [
        (["viya-oauth"], ["get", "patch"]),
        (["jes-jes-runner-tokens"], ["get", "patch"]),
    ]
    env = env_of(spec["containers"][0])
    assert json.loads(env["JES_TOKEN_SECRET_KEYS"]) == {
        "refresh_token": "token",
        "client_id": "client",
        "client_secret": "secret",
    }
    assert env["JES_TOKEN_SECRET_NAME"] == "viya-oauth"
    assert env["JES_TOKEN_STORE_SECRET_NAME"] == "jes-jes-runner-tokens"
    assert "JES_TOKEN_SECRET_OPERATOR_MANAGED" not in env
    # an operator's Secret: read, never patched
    docs = helm.template(
        "existing-secret-values.yaml", sets={"credentials.operatorManaged": "true"}
    )
    rules = one(docs, "Role")["rules"]
    assert [(r["resourceNames"], r["verbs"]) for r in rules] == [
        (["viya-oauth"], ["get"]),
        (["jes-jes-runner-tokens"], ["get", "patch"]),
    ]
    env = env_of(pod_specs(docs)[0][1]["containers"][0])
    assert env["JES_TOKEN_SECRET_OPERATOR_MANAGED"] == "true"


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
    # no cluster-scoped RBAC by default: installing needs no cluster-admin
    assert {d["kind"] for d in default} >= {"ServiceAccount", "Role", "RoleBinding"}
    assert not by_kind(default, "ClusterRole") and not by_kind(default, "ClusterRoleBinding")
    assert env_of(runner_container(default))["JES_NODE_TIMELINE"] == "orchestrator"
    nodes = helm.template(sets={"rbac.nodeReader": "true"})
    assert env_of(runner_container(nodes))["JES_NODE_TIMELINE"] == "auto"
    one(nodes, "ClusterRoleBinding")
    cr = one(nodes, "ClusterRole")
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
    no_wb = helm.template(sets={"rbac.tokenWriteBack": "false", "rbac.nodeReader": "true"})
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
    # the API server: token write-back is on by default
    assert egress[3]["to"] == [{"ipBlock": {"cidr": "172.16.0.1/32"}}]
    assert {p["port"] for p in egress[3]["ports"]} == {443, 6443}
    assert len(egress) == 4 and pod_labels


def _pushgateway_peers(docs: list[dict]) -> list[dict]:
    egress = one(docs, "NetworkPolicy")["spec"]["egress"]
    (rule,) = [r for r in egress if {p["port"] for p in r["ports"]} == {9091}]
    return rule.get("to", [])


@pytest.mark.parametrize(
    ("url", "namespace"),
    [
        ("http://prometheus-pushgateway.monitoring:9091", "monitoring"),
        ("http://pg.observability.svc.cluster.local:9091", "observability"),
        ("https://user@pg.metrics.svc:9091/", "metrics"),
        ("http://prometheus-pushgateway:9091", None),  # same namespace: the podSelector alone
    ],
)
def test_network_policy_reaches_the_pushgateway_in_its_namespace(helm, url, namespace):
    """README's Pushgateway lives in `monitoring`: a podSelector alone would only match pods
    of the runner's own namespace, so every push would be denied (exit 4)."""
    sets = {"networkPolicy.enabled": "true", "runner.pushgatewayUrl": url}
    (peer,) = _pushgateway_peers(helm.template(sets=sets))
    assert peer["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "prometheus-pushgateway"
    }
    if namespace:
        assert peer["namespaceSelector"] == {
            "matchLabels": {"kubernetes.io/metadata.name": namespace}
        }
    else:
        assert "namespaceSelector" not in peer


def test_network_policy_api_server_egress_follows_rbac(helm):
    def api_rule(sets):
        docs = helm.template(sets={"networkPolicy.enabled": "true", **sets})
        egress = one(docs, "NetworkPolicy")["spec"]["egress"]
        return [r for r in egress if {p["port"] for p in r["ports"]} == {443, 6443}]

    assert api_rule({})  # token write-back into the chart's Secret
    assert not api_rule({"rbac.tokenWriteBack": "false"})
    assert api_rule({"rbac.tokenWriteBack": "false", "rbac.nodeReader": "true"})
    assert not api_rule({"networkPolicy.kubeApi.enabled": "false"})
    assert api_rule({"rbac.create": "false", "networkPolicy.kubeApi.enabled": "true"})


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
            # the only change with default parameters: the scope, the deployment's profile
            scoped = s["expr"].replace(
                'absent(jes_run_info{profile!="adhoc"})', 'absent(jes_run_info{profile="nightly"})'
            )
            assert r["expr"] == scoped.replace('profile!="adhoc"', 'profile=~"nightly"')
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
    assert "packaged EXAMPLE config" in notes and "--set-file jobConfig.json=" in notes
    assert "profile: jes " in notes and "rbac.nodeReader=true" in notes
    proc = helm4.run(
        "install",
        "jes",
        str(CHART),
        "--dry-run=client",
        "--set",
        "persistence.enabled=false",
        "--set",
        "runner.viyaUrl=https://viya.example.com",
        "--set-file",
        f"jobConfig.json={REPO / 'config' / 'job_configs.json'}",
    )
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "WARNING" not in notes and "LOST" in notes
    # runner.viyaUrl is required
    proc = helm4.run("install", "jes", str(CHART), "--dry-run=client", check=False)
    assert proc.returncode != 0 and "viyaUrl" in proc.stderr


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
        "cronjob": {"schedule": "30 3 * * 0"},  # weekly: the interval is derived, 604800 s
        "runner": {"profile": "weekly-prod"},
        "prometheusRule": {
            "enabled": True,
            "scheduleMultiple": 1.5,
            "speedupFraction": 0.5,
            "runbookUrl": "https://wiki.example.com/sas/jes-runbook",
        },
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
    assert 'absent(jes_run_info{profile="weekly-prod"})' in exprs
    (absent,) = [
        r
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if r.get("alert") == "JesMetricsAbsent"
    ]
    assert absent["for"] == "907200s"
    assert "172800s" not in exprs and "adhoc" not in exprs
    assert exprs.count('profile=~"weekly-prod"') == source_exprs.count('profile!="adhoc"') - 1
    urls = [
        r["annotations"]["runbook_url"]
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    ]
    assert urls and all(u.startswith("https://wiki.example.com/sas/jes-runbook#jes") for u in urls)
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
        r["expr"]
        .replace(
            'absent(jes_run_info{profile!="adhoc"})', 'absent(jes_run_info{profile="nightly"})'
        )
        .replace('profile!="adhoc"', 'profile=~"nightly"')
        for r in source["groups"][0]["rules"]
    ]


@pytest.mark.parametrize(
    "schedule, seconds",
    [
        ("0 2 * * *", 86400),
        ("*/15 * * * *", 900),
        ("30 */6 * * *", 21600),
        ("0 8,20 * * *", 43200),  # the longest gap: 20:00 -> 08:00
        ("0 0-12/4 * * *", 43200),  # 0, 4, 8, 12 -> 12 h to midnight
        ("0 2 * * 1-5", 259200),  # weekdays: Friday -> Monday
        ("5 4 * * 0,7", 604800),  # 0 and 7 are both Sunday
        ("@hourly", 3600),
        ("@weekly", 604800),
    ],
)
def test_schedule_interval_is_derived_from_the_cron_expression(helm, schedule, seconds):
    schedule = schedule.replace(",", "\\,")  # --set splits on unescaped commas
    docs = helm.template(sets={"prometheusRule.enabled": "true", "cronjob.schedule": schedule})
    exprs = "\n".join(
        r["expr"] for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]
    )
    assert f"> 2 * {seconds}" in exprs
    fors = {
        r["alert"]: r.get("for")
        for g in one(docs, "PrometheusRule")["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert fors["JesMetricsAbsent"] == f"{2 * seconds}s"
    # an explicit value must agree with the schedule
    err = helm.template_fails(
        sets={
            "prometheusRule.enabled": "true",
            "cronjob.schedule": schedule,
            "prometheusRule.scheduleIntervalSeconds": str(seconds + 60),
        }
    )
    assert "disagrees with cronjob.schedule" in err and "leave it null" in err


def test_schedule_the_chart_cannot_read_needs_an_explicit_interval(helm):
    sets = {"prometheusRule.enabled": "true", "cronjob.schedule": "0 2 1 * *"}  # monthly
    err = helm.template_fails(sets=sets)
    assert "set prometheusRule.scheduleIntervalSeconds" in err
    docs = helm.template(sets={**sets, "prometheusRule.scheduleIntervalSeconds": "2678400"})
    exprs = "\n".join(
        r["expr"] for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]
    )
    assert "> 2 * 2678400" in exprs


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


# -- several Viya environments from one release (issue 24) ---------------------------------


def _runner_env(cronjob: dict) -> dict[str, object]:
    return env_of(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])


def test_targets_render_one_cronjob_each_sharing_the_rest(helm):
    docs = helm.template("targets-values.yaml")
    crons = {c["metadata"]["name"]: c for c in by_kind(docs, "CronJob")}
    assert set(crons) == {"jes-jes-runner-dev", "jes-jes-runner-prod"}
    dev, prod = _runner_env(crons["jes-jes-runner-dev"]), _runner_env(crons["jes-jes-runner-prod"])
    assert (dev["JES_VIYA_URL"], prod["JES_VIYA_URL"]) == (
        "https://viya-dev.example.com",
        "https://viya.example.com",
    )
    assert (dev["JES_PROFILE"], prod["JES_PROFILE"]) == ("jes-dev", "jes-prod")
    assert (dev["JES_ENVIRONMENT"], prod["JES_ENVIRONMENT"]) == ("dev", "prod")  # prod: runner's
    assert (dev["JES_OUTPUT_DIR"], prod["JES_OUTPUT_DIR"]) == ("/results/dev", "/results/prod")
    assert json.loads(dev["JES_PHASES"])[1]["context"] == "Dev Autoscaling Context"
    assert "JES_PHASES" not in prod
    assert crons["jes-jes-runner-dev"]["spec"]["schedule"] == "0 1 * * *"
    assert crons["jes-jes-runner-prod"]["spec"]["schedule"] == "0 2 * * *"
    for name, secret in (("jes-jes-runner-dev", "viya-dev"), ("jes-jes-runner-prod", "viya-prod")):
        pod = crons[name]["spec"]["jobTemplate"]["spec"]["template"]
        (creds,) = [v for v in pod["spec"]["volumes"] if v["name"] == "credentials"]
        assert creds["secret"]["secretName"] == secret
        (results,) = [v for v in pod["spec"]["volumes"] if v["name"] == "results"]
        assert results["persistentVolumeClaim"]["claimName"] == "jes-jes-runner-results"
        assert pod["metadata"]["labels"]["jes-runner.io/target"] == name.rsplit("-", 1)[1]
        env = _runner_env(crons[name])
        assert env["JES_PUSHGATEWAY_URL"] == "http://prometheus-pushgateway.monitoring:9091"
        assert (env["JES_NODE_HOUR_PRICE"], env["JES_CURRENCY"]) == ("0.77", "EUR")
        assert env["JES_TOKEN_STORE_SECRET_NAME"] == f"{name}-tokens"
    # one PVC, one ServiceAccount; a tokens Secret and Role rules per target
    assert len(by_kind(docs, "PersistentVolumeClaim")) == len(by_kind(docs, "ServiceAccount")) == 1
    stores = {s["metadata"]["name"] for s in by_kind(docs, "Secret")} - {"jes-jes-runner"}
    assert stores == {"jes-jes-runner-dev-tokens", "jes-jes-runner-prod-tokens"}
    names = {n for r in one(docs, "Role")["rules"] for n in r["resourceNames"]}
    assert names == {"viya-dev", "viya-prod"} | stores


def test_single_target_values_are_unchanged_by_the_targets_feature(helm):
    (cron,) = by_kind(helm.template(), "CronJob")
    env = _runner_env(cron)
    assert cron["metadata"]["name"] == "jes-jes-runner"
    assert env["JES_OUTPUT_DIR"] == "/results" and env["JES_PROFILE"] == "jes"
    assert "JES_NODE_HOUR_PRICE" not in env and "JES_CURRENCY" not in env
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container and container["args"] == ["run"]


def test_trend_runs_after_each_run_and_keeps_the_runs_exit_code(helm, tmp_path):
    docs = helm.template("targets-values.yaml")
    cron = by_kind(docs, "CronJob")[0]
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    shell, flag, script, argv0 = container["command"]
    assert (shell, flag, argv0) == ("/bin/sh", "-c", "jes-runner")
    assert container["args"] == ["run"]
    # the script itself, with a stand-in jes-runner: the run's exit code survives a failing
    # trend, and trend gets the results directory twice
    fake = tmp_path / "bin" / "jes-runner"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$@" >> "$LOG"\n[ "$1" = run ] && exit 3\nexit 1\n')
    fake.chmod(0o755)
    log = tmp_path / "log"
    env = {
        "PATH": f"{fake.parent}:/usr/bin:/bin",
        "LOG": str(log),
        "JES_OUTPUT_DIR": "/results/dev",
    }
    proc = subprocess.run(
        [shell, flag, script, argv0, "run"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 3, proc.stderr
    assert log.read_text().splitlines() == ["run", "trend /results/dev --out /results/dev"]
    assert "trend: failed" in proc.stderr


def test_targets_scope_the_rules_to_every_target_profile(helm):
    docs = helm.template("targets-values.yaml", sets={"prometheusRule.enabled": "true"})
    rules = [r for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    absent = sorted(r["expr"].strip() for r in rules if r.get("alert") == "JesMetricsAbsent")
    assert absent == [
        'absent(jes_run_info{profile="jes-dev"})',
        'absent(jes_run_info{profile="jes-prod"})',
    ]
    failed = next(r for r in rules if r.get("alert") == "JesRunFailedJobs")
    assert 'profile=~"jes-dev|jes-prod"' in failed["expr"]


def test_viya_url_is_required_without_targets(helm):
    err = helm.template_fails(sets={"runner.viyaUrl": ""})
    assert "viyaUrl" in err


def test_contexts_of_the_default_phases_come_from_values(helm):
    sets = {"runner.sequentialContext": "My Fixed", "runner.concurrentContext": "My Autoscaling"}
    (cron,) = by_kind(helm.template(sets=sets), "CronJob")
    env = _runner_env(cron)
    assert (env["JES_SEQUENTIAL_CONTEXT"], env["JES_CONCURRENT_CONTEXT"]) == (
        "My Fixed",
        "My Autoscaling",
    )
    (plain,) = by_kind(helm.template(), "CronJob")
    assert "JES_SEQUENTIAL_CONTEXT" not in _runner_env(plain)


def test_trend_script_forwards_sigterm_to_the_run(helm, tmp_path):
    """The pod's SIGTERM (deadline, eviction) reaches the run, which still gets its grace period
    to cancel jobs and write `aborted` results; trend runs after it; the pod exits 143."""
    cron = by_kind(helm.template("targets-values.yaml"), "CronJob")[0]
    shell, flag, script, argv0 = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"
    ][0]["command"]
    fake = tmp_path / "bin" / "jes-runner"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = run ]; then\n'
        "  trap 'sleep 0.3; echo aborted >> \"$LOG\"; exit 143' TERM\n"
        '  echo started >> "$LOG"; while :; do sleep 0.05; done\n'
        "fi\n"
        'echo "$@" >> "$LOG"\n'
    )
    fake.chmod(0o755)
    log = tmp_path / "log"
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "LOG": str(log), "JES_OUTPUT_DIR": "/r/dev"}
    proc = subprocess.Popen([shell, flag, script, argv0, "run"], env=env)
    deadline = time.monotonic() + 10
    while not (log.exists() and "started" in log.read_text()):
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 143
    assert log.read_text().splitlines() == ["started", "aborted", "trend /r/dev --out /r/dev"]

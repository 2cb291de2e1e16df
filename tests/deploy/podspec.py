"""Turn a rendered Kubernetes pod spec into a `podman run` command line, so the chart's own
pod (env, envFrom, Secret/ConfigMap/PVC/emptyDir volumes, securityContext, args,
resources) runs for real. `podman kube play` cannot: it runs no Jobs, writes Secret files
base64-encoded and ignores defaultMode and the pod securityContext.

The rules (what the kubelet would do, as far as the runner can tell):

* one container; its ``image`` is replaced by the locally built one;
* ``env`` values as they are; ``valueFrom.secretKeyRef`` / ``configMapKeyRef`` resolved
  from the objects given (a missing non-optional key is an error, like the kubelet's
  CreateContainerConfigError); ``envFrom`` likewise, with its prefix;
* security: container ``securityContext`` over the pod's; runAsUser/runAsGroup ->
  ``--user``, fsGroup -> ``--group-add`` and group ownership of every volume,
  readOnlyRootFilesystem -> ``--read-only`` with *no* tmpfs podman would add on its own,
  capabilities, allowPrivilegeEscalation: false -> ``no-new-privileges``; runAsNonRoot
  with user 0 and privileged: true are refused;
* volumes: Secret / ConfigMap -> files written decoded (``items`` or every key) with
  ``defaultMode`` (root:fsGroup) in a read-only bind mount; PVC -> a host directory
  (root:fsGroup, setgid, group-writable, as a CSI disk with fsGroup); emptyDir -> tmpfs
  of its ``sizeLimit``;
* resources: limits.memory -> ``--memory``, limits.cpu -> ``--cpus`` (requests only
  schedule);
* terminationGracePeriodSeconds -> ``--stop-timeout``.

Any field it does not know is an error, so a chart change the translation would
silently drop fails the test instead.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POD_KEYS = {
    "serviceAccountName",
    "automountServiceAccountToken",
    "restartPolicy",
    "enableServiceLinks",
    "terminationGracePeriodSeconds",
    "securityContext",
    "containers",
    "volumes",
    # scheduling only: nothing to run differently on one machine
    "nodeSelector",
    "affinity",
    "tolerations",
    "priorityClassName",
    "imagePullSecrets",
}
CONTAINER_KEYS = {
    "name",
    "image",
    "imagePullPolicy",
    "args",
    "command",
    "env",
    "envFrom",
    "securityContext",
    "resources",
    "volumeMounts",
    "workingDir",
}
SECURITY_KEYS = {
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "fsGroupChangePolicy",
    "seccompProfile",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "privileged",
    "capabilities",
}
MOUNT_KEYS = {"name", "mountPath", "readOnly"}
_QUANTITY = re.compile(r"^([0-9.]+)([KMGT]i?|m)?$")
_FACTORS = {
    None: 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


class TranslationError(ValueError):
    """The pod spec uses something this translator (or the kubelet) would not run."""


@dataclass
class Cluster:
    """What the API server would hold: Secrets and ConfigMaps by name (decoded data), and
    the host directory standing in for each PersistentVolumeClaim."""

    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    claims: dict[str, Path] = field(default_factory=dict)

    def add_manifests(self, docs: list[dict[str, Any]]) -> Cluster:
        """Secrets and ConfigMaps the chart rendered itself."""
        for d in docs:
            name = d.get("metadata", {}).get("name")
            if d.get("kind") == "Secret":
                data = {k: base64.b64decode(v).decode() for k, v in (d.get("data") or {}).items()}
                self.secrets[name] = {**data, **(d.get("stringData") or {})}
            elif d.get("kind") == "ConfigMap":
                self.config_maps[name] = dict(d.get("data") or {})
        return self


def quantity(value: str | int | float) -> float:
    """A Kubernetes quantity ("512Mi", "1Gi", "500m", 2) as a number (bytes or cores)."""
    m = _QUANTITY.match(str(value))
    if not m:
        raise TranslationError(f"unsupported quantity {value!r}")
    number, unit = float(m.group(1)), m.group(2)
    return number / 1000 if unit == "m" else number * _FACTORS[unit]


def _unknown(what: str, obj: Mapping[str, Any], known: set[str]) -> None:
    extra = sorted(set(obj) - known)
    if extra:
        raise TranslationError(
            f"{what}: fields the translation does not handle: {', '.join(extra)}"
        )


def _lookup(cluster: Cluster, kind: str, ref: Mapping[str, Any], key: str | None = None) -> Any:
    store = cluster.secrets if kind == "secret" else cluster.config_maps
    obj = store.get(ref["name"])
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise TranslationError(
            f"{kind} {ref['name']!r} not found (the kubelet would not start the pod)"
        )
    if key is None:
        return obj
    if key not in obj:
        if optional:
            return None
        raise TranslationError(f"{kind} {ref['name']!r} has no key {key!r}")
    return obj[key]


def _env(container: Mapping[str, Any], cluster: Cluster) -> list[str]:
    out: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for kind in ("secretRef", "configMapRef"):
            if kind in src:
                data = (
                    _lookup(cluster, "secret" if kind == "secretRef" else "configmap", src[kind])
                    or {}
                )
                out.update({prefix + k: v for k, v in data.items()})
    for e in container.get("env") or []:
        if "value" in e:
            out[e["name"]] = str(e["value"])
        elif "valueFrom" in e:
            vf = e["valueFrom"]
            if "secretKeyRef" in vf:
                value = _lookup(cluster, "secret", vf["secretKeyRef"], vf["secretKeyRef"]["key"])
            elif "configMapKeyRef" in vf:
                value = _lookup(
                    cluster, "configmap", vf["configMapKeyRef"], vf["configMapKeyRef"]["key"]
                )
            else:
                raise TranslationError(f"env {e['name']}: unsupported valueFrom {sorted(vf)}")
            if value is not None:
                out[e["name"]] = value
        else:
            out[e["name"]] = ""
    return [arg for k, v in out.items() for arg in ("-e", f"{k}={v}")]


def _write_files(directory: Path, files: Mapping[str, str], mode: int, gid: int) -> None:
    directory.mkdir(parents=True)
    for rel, content in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        os.chown(path, 0, gid)
        path.chmod(mode)
    os.chown(directory, 0, gid)
    directory.chmod(0o755 if gid == 0 else 0o750)


def _volume_source(
    vol: Mapping[str, Any], cluster: Cluster, work: Path, gid: int
) -> tuple[str, str]:
    """(kind, podman mount source) of one pod volume; files are written under ``work``."""
    name = vol["name"]
    if "emptyDir" in vol:
        limit = (vol["emptyDir"] or {}).get("sizeLimit")
        size = f",size={int(quantity(limit))}" if limit else ""
        return "tmpfs", f"rw,mode=1777{size}"
    if "persistentVolumeClaim" in vol:
        claim = vol["persistentVolumeClaim"]["claimName"]
        if claim not in cluster.claims:
            raise TranslationError(f"volume {name}: no host directory for PVC {claim!r}")
        host = cluster.claims[claim]
        host.mkdir(parents=True, exist_ok=True)
        os.chown(host, 0, gid)
        host.chmod(0o2775)  # what fsGroup does to a CSI disk: group-owned, setgid, group-writable
        return "bind", str(host)
    for kind, ref_key, default_mode in (
        ("secret", "secretName", 0o644),
        ("configMap", "name", 0o644),
    ):
        if kind in vol:
            src = vol[kind]
            data = _lookup(
                cluster,
                "secret" if kind == "secret" else "configmap",
                {**src, "name": src[ref_key]},
            )
            data = data or {}
            items = src.get("items")
            files = (
                {
                    i["path"]: _lookup(
                        cluster,
                        "secret" if kind == "secret" else "configmap",
                        {**src, "name": src[ref_key]},
                        i["key"],
                    )
                    for i in items
                }
                if items
                else dict(data)
            )
            files = {k: v for k, v in files.items() if v is not None}
            _write_files(work / name, files, int(src.get("defaultMode", default_mode)), gid)
            return "bind", str(work / name)
    raise TranslationError(f"volume {name}: unsupported source {sorted(set(vol) - {'name'})}")


def podman_run_args(
    pod: Mapping[str, Any], cluster: Cluster, work: Path, *, image: str, network: str = "host"
) -> list[str]:
    """The `podman run` arguments (without the `podman run` itself) for ``pod`` (a pod spec)."""
    _unknown("pod spec", pod, POD_KEYS)
    (container,) = pod["containers"]
    _unknown(f"container {container['name']}", container, CONTAINER_KEYS)
    psc, csc = dict(pod.get("securityContext") or {}), dict(container.get("securityContext") or {})
    _unknown("pod securityContext", psc, SECURITY_KEYS)
    _unknown("container securityContext", csc, SECURITY_KEYS)
    sc = {**psc, **csc}
    if sc.get("privileged"):
        raise TranslationError("privileged containers are not run")
    uid, gid = int(sc.get("runAsUser", 0)), int(sc.get("runAsGroup", 0))
    if sc.get("runAsNonRoot") and uid == 0:
        raise TranslationError("runAsNonRoot with user 0: the kubelet would refuse to start it")
    fs_group = psc.get("fsGroup")
    vol_gid = int(fs_group) if fs_group is not None else gid
    args = [
        "--name",
        f"{container['name']}-{os.getpid()}-{id(pod) % 10**6}",
        "--network",
        network,
        "--user",
        f"{uid}:{gid}",
    ]
    if fs_group is not None:
        args += ["--group-add", str(fs_group)]
    if sc.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]  # only the volumes are writable
    caps = sc.get("capabilities") or {}
    args += [f"--cap-drop={c}" for c in caps.get("drop") or []]
    args += [f"--cap-add={c}" for c in caps.get("add") or []]
    if sc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    seccomp = (sc.get("seccompProfile") or {}).get("type")
    if seccomp not in (None, "RuntimeDefault"):
        raise TranslationError(f"seccompProfile {seccomp} is not supported")
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        args += ["--memory", str(int(quantity(limits["memory"])))]
    if "cpu" in limits:
        args += ["--cpus", f"{quantity(limits['cpu']):g}"]
    if pod.get("terminationGracePeriodSeconds") is not None:
        args += ["--stop-timeout", str(int(pod["terminationGracePeriodSeconds"]))]
    if container.get("workingDir"):
        args += ["--workdir", container["workingDir"]]
    args += _env(container, cluster)

    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    sources: dict[str, tuple[str, str]] = {}
    for m in container.get("volumeMounts") or []:
        _unknown(f"volumeMount {m.get('name')}", m, MOUNT_KEYS)
        if m["name"] not in volumes:
            raise TranslationError(f"volumeMount {m['name']}: no such volume")
        if m["name"] not in sources:
            sources[m["name"]] = _volume_source(volumes[m["name"]], cluster, work, vol_gid)
        kind, source = sources[m["name"]]
        if kind == "tmpfs":
            args += ["--tmpfs", f"{m['mountPath']}:{source}"]
        else:
            ro = (
                m.get("readOnly")
                or "secret" in volumes[m["name"]]
                or "configMap" in volumes[m["name"]]
            )
            args += ["-v", f"{source}:{m['mountPath']}:{'ro' if ro else 'rw'}"]
    if container.get("command"):
        (entry, *rest) = container["command"]
        args += ["--entrypoint", entry]
        return [*args, image, *rest, *(container.get("args") or [])]
    return [*args, image, *(container.get("args") or [])]

"""Real Prometheus / Pushgateway servers for tests: plain helpers, no pytest.

Debian's binaries (`apt-get install prometheus prometheus-pushgateway`, see
.ci/install-deps) are started on free loopback ports with their own data
directories and stopped by PID when the ``with`` block ends. A missing binary
raises ``MissingBinary`` -- a failing test, never a skip.

    with pushgateway(tmp / "pg") as pg, prometheus(tmp / "prom", [pg.address]) as prom:
        push(pg.url) ...
        wait_for(lambda: query(prom.url, 'jes_run_info'))
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
APT_HINT = "apt-get install -y prometheus prometheus-pushgateway (or bash .ci/install-deps)"

T = TypeVar("T")


class MissingBinary(RuntimeError):
    pass


def require_binary(path: str) -> str:
    """The binary's path; raises (never skips) when it is not installed."""
    found = path if Path(path).is_file() else shutil.which(Path(path).name)
    if not found:
        raise MissingBinary(f"{path} not found: {APT_HINT}")
    return found


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str  # "http://127.0.0.1:PORT" (https with TLS)
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.process)


def http(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    ca_bundle: Path | None = None,
    basic_auth: tuple[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request; returns (status, body) for any HTTP status, raises on connection errors."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if basic_auth:
        token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    ctx = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else None
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
    )
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(
    check: Callable[[], T], timeout: float = 30.0, interval: float = 0.2, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something truthy; raise TimeoutError with the last error."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # kept for the timeout message
            last = e
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what}"
                + (f" (last error: {last})" if last else "")
            )
        time.sleep(interval)


def _start(
    name: str,
    argv_for_port: Callable[[int], list[str]],
    data_dir: Path,
    ready_path: str,
    *,
    scheme: str = "http",
    ca_bundle: Path | None = None,
    basic_auth: tuple[str, str] | None = None,
    timeout: float = 30.0,
) -> Server:
    """Start a server on a free port (retrying if another process grabs the port) and wait until ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    last_log = ""
    for _ in range(3):
        port = free_port()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv_for_port(port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=data_dir,
            )
        server = Server(name, f"{scheme}://127.0.0.1:{port}", port, data_dir, log_path, proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = http(
                    server.url + ready_path, timeout=2, ca_bundle=ca_bundle, basic_auth=basic_auth
                )
                if status == 200:
                    return server
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        last_log = server.log_tail()
        server.stop()
        if "address already in use" not in last_log:
            break
    raise RuntimeError(f"{name} did not become ready; log tail:\n{last_log}")


@contextmanager
def pushgateway(
    data_dir: Path,
    *,
    web_config: dict[str, Any] | None = None,
    ca_bundle: Path | None = None,
    basic_auth: tuple[str, str] | None = None,
) -> Iterator[Server]:
    """Debian's prometheus-pushgateway with persistence in ``data_dir``.

    ``web_config``: an exporter-toolkit web config (tls_server_config, basic_auth_users);
    pass the CA bundle / credentials the readiness probe needs to get through it.
    """
    binary = require_binary(PUSHGATEWAY)
    data_dir.mkdir(parents=True, exist_ok=True)
    extra: list[str] = []
    if web_config:
        cfg = data_dir / "web-config.yml"
        cfg.write_text(yaml.safe_dump(web_config))
        extra.append(f"--web.config.file={cfg}")
    scheme = "https" if web_config and "tls_server_config" in web_config else "http"
    server = _start(
        "pushgateway",
        lambda port: [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={data_dir / 'metrics.db'}",
            "--log.level=warn",
            *extra,
        ],
        data_dir,
        "/-/ready",
        scheme=scheme,
        ca_bundle=ca_bundle,
        basic_auth=basic_auth,
    )
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def prometheus(
    data_dir: Path,
    pushgateways: Sequence[str],
    *,
    rule_files: Sequence[Path] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    honor_labels: bool = True,
) -> Iterator[Server]:
    """Debian's prometheus scraping the given Pushgateways (host:port).

    ``honor_labels=False`` scrapes the way viya4-monitoring's Pushgateway ServiceMonitor
    does: the scrape's own ``job`` (and ``instance``) win, the pushed ``job`` becomes
    ``exported_job``, and the target carries the Service's namespace/service/pod labels."""
    binary = require_binary(PROMETHEUS)
    data_dir.mkdir(parents=True, exist_ok=True)
    scrape: dict[str, Any] = {
        "job_name": "pushgateway",
        "honor_labels": True,  # keep the pushed job/cluster/environment/profile labels
        "static_configs": [{"targets": list(pushgateways)}],
    }
    if not honor_labels:
        scrape = {
            "job_name": "serviceMonitor/monitoring/prometheus-pushgateway/0",
            "honor_labels": False,
            "static_configs": [{"targets": list(pushgateways)}],
            "relabel_configs": [  # what the Prometheus Operator derives from the Service's endpoints
                {"target_label": "job", "replacement": "prometheus-pushgateway"},
                {"target_label": "namespace", "replacement": "monitoring"},
                {"target_label": "service", "replacement": "prometheus-pushgateway"},
                {"target_label": "pod", "replacement": "prometheus-pushgateway-5d8f7c9b4-x2k8q"},
                {"target_label": "endpoint", "replacement": "http"},
            ],
        }
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [scrape],
    }
    cfg = data_dir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    server = _start(
        "prometheus",
        lambda port: [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={data_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
        data_dir,
        "/-/ready",
    )
    server.extra["config"] = cfg
    try:
        yield server
    finally:
        server.stop()


# -- Prometheus HTTP API ------------------------------------------------------------


class PromQLError(AssertionError):
    pass


def api(prom_url: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET /api/v1/<path>; returns ``data``; raises PromQLError on an API error."""
    qs = urllib.parse.urlencode(params or {}, doseq=True)
    status, body = http(f"{prom_url}/api/v1/{path}" + (f"?{qs}" if qs else ""))
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        raise PromQLError(f"/api/v1/{path}: HTTP {status}: {body[:300]!r}") from None
    if status != 200 or doc.get("status") != "success":
        raise PromQLError(
            f"/api/v1/{path} {params}: HTTP {status}: {doc.get('errorType')}: {doc.get('error')}"
        )
    return doc["data"]


def query(prom_url: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    """Instant query through /api/v1/query; the result vector (scalars become one sample)."""
    params: dict[str, Any] = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    data = api(prom_url, "query", params)
    if data["resultType"] in ("scalar", "string"):
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary(PROMTOOL), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def parse_metrics_text(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a text exposition (Pushgateway /metrics) as (name, labels, value)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.append((s.name, dict(s.labels), float(s.value)))
    return out


# -- TLS material for servers under test -------------------------------------------


def make_tls_files(directory: Path, host: str = "127.0.0.1") -> dict[str, Path]:
    """A throwaway CA and a server certificate for ``host`` (an IP or DNS name).

    Returns {"ca": ca.pem, "cert": server.pem, "key": server-key.pem}.
    """
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("jes test CA"))
        .issuer_name(name("jes test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca": directory / "ca.pem",
        "cert": directory / "server.pem",
        "key": directory / "server-key.pem",
    }
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths

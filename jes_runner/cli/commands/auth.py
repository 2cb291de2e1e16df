"""`jes-runner auth`: how the first tokens get into the Secret (and how to look at them).

Log in to SASLogon with the authorization-code flow (print the
``/SASLogon/oauth/authorize?client_id=...&response_type=code`` URL, read the code
pasted back on stdin, exchange it) or the password grant, then write the tokens

* to the token files (the secrets-directory layout: one file per key, 0600),
* to a Secret through the Kubernetes API (``--secret NAME``; created if missing,
  else only the changed keys are patched), or
* as a Secret manifest on stdout (``--secret NAME --manifest | kubectl apply -f -``).

``--refresh`` uses the stored refresh token and rewrites what changed;
``--show`` prints the stored access token's subject and expiry -- never a token.
Keys written: ``access_token``, ``refresh_token``, ``client_id`` (a refresh token
only works for the client it was issued to) and ``client_secret`` when one is used.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import yaml

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_viya
from jes_runner.config.settings import Settings, load_settings, warn_unknown_env
from jes_runner.console import fmt_seconds
from jes_runner.errors import JesError, PreflightError
from jes_runner.kube.config import connect, pod_namespace
from jes_runner.kube.tokens import SECRET_LABELS, FileStore, SecretStore, StoreError, b64
from jes_runner.viya import RequestsTransport, RetryPolicy, jwt_claims, request_token, user_errors

DEFAULT_SECRET_NAME = "jes-runner-tokens"


# ----- SASLogon -----------------------------------------------------------------------


def authorize_url(viya_url: str, client_id: str, redirect_uri: str | None = None) -> str:
    query = {"client_id": client_id, "response_type": "code"}
    if redirect_uri:
        query["redirect_uri"] = redirect_uri
    return f"{viya_url}/SASLogon/oauth/authorize?{urlencode(query)}"


def token_request(
    settings: Settings, form: dict[str, str], client_id: str, client_secret: str
) -> dict[str, Any]:
    """One grant through the Viya client's token request; PreflightError with one line when refused."""
    assert settings.viya_url
    verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
    transport = RequestsTransport(timeout=settings.request_timeout_s, verify=verify)
    try:
        with user_errors("SASLogon"):
            grant = request_token(
                transport,
                settings.viya_url,
                form,
                client_id,
                client_secret,
                retry=RetryPolicy(
                    max_retries=settings.max_retries, backoff_s=settings.retry_backoff_s
                ),
            )
    finally:
        transport.close()
    if grant.error:
        raise PreflightError(grant.error)
    return grant.body


# ----- describing tokens without showing them ---------------------------------------------


def _when(epoch: float, now: float) -> str:
    at = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    delta = epoch - now
    human = fmt_seconds(abs(delta))
    return f"{at} (in {human})" if delta >= 0 else f"{at} (expired {human} ago)"


def describe_token(token: str | None, kind: str, now: float) -> str:
    if not token:
        return f"{kind}: absent"
    claims = jwt_claims(token)
    if not claims:
        return f"{kind}: present (opaque, expiry not readable)"
    parts = []
    subject = claims.get("user_name") or claims.get("sub")
    if subject:
        parts.append(f"subject {subject}")
    if claims.get("client_id"):
        parts.append(f"client {claims['client_id']}")
    exp = claims.get("exp")
    parts.append(
        f"expires {_when(float(exp), now)}" if isinstance(exp, int | float) else "no expiry"
    )
    return f"{kind}: " + ", ".join(parts)


# ----- targets ---------------------------------------------------------------------------


def _namespace(args: argparse.Namespace, settings: Settings) -> str:
    if args.namespace:
        return str(args.namespace)
    if settings.token_secret_namespace:
        return settings.token_secret_namespace
    ns = pod_namespace()
    if ns:
        return ns
    try:  # the kubeconfig's current context
        from kubernetes import config

        _, active = config.list_kube_config_contexts()
        return str((active or {}).get("context", {}).get("namespace") or "default")
    except Exception:  # noqa: BLE001 - no kubeconfig: the default namespace
        return "default"


def _store(args: argparse.Namespace, settings: Settings) -> FileStore | SecretStore:
    if args.secret:
        access = connect(
            args.kube_api_url or settings.kube_api_url, settings.secret("kube_api_token")
        )
        if not access.ok:
            raise JesError(
                f"--secret {args.secret}: no Kubernetes API ({access.reason}); "
                "fix: run in the cluster, set KUBECONFIG, or print a manifest with --manifest"
            )
        return SecretStore(access, _namespace(args, settings), args.secret)
    return FileStore(Path(args.secrets_dir) if args.secrets_dir else settings.secrets_dir)


def manifest(name: str, namespace: str | None, values: dict[str, str]) -> str:
    md: dict[str, Any] = {"name": name, "labels": dict(SECRET_LABELS)}
    if namespace:
        md["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": md,
        "type": "Opaque",
        "data": {k: b64(v) for k, v in sorted(values.items())},
    }
    return yaml.safe_dump(doc, sort_keys=False)


# ----- the command -------------------------------------------------------------------------


def _read_line(stdin: IO[str]) -> str:
    line = stdin.readline()
    return line.strip()


def _login(
    args: argparse.Namespace, settings: Settings, client_id: str, client_secret: str, stdin: IO[str]
) -> dict[str, Any]:
    username = args.username or settings.username
    password = settings.secret("password")
    grant = args.grant or ("password" if username and password else "code")
    if grant == "password":
        if not username:
            raise JesError("the password grant needs a user: pass --username or set JES_USERNAME")
        if not password:
            if stdin.isatty():
                password = getpass.getpass(f"password for {username}: ")
            else:
                password = _read_line(stdin)
        if not password:
            raise JesError("no password: set JES_PASSWORD, or type it when asked")
        return token_request(
            settings,
            {"grant_type": "password", "username": username, "password": password},
            client_id,
            client_secret,
        )
    assert settings.viya_url
    url = authorize_url(settings.viya_url, client_id, args.redirect_uri)
    print(
        "Open this URL in a browser, sign in, and paste the authorization code shown:",
        file=sys.stderr,
    )
    print(f"  {url}", file=sys.stderr)
    print("code: ", end="", file=sys.stderr, flush=True)
    code = _read_line(stdin)
    if not stdin.isatty():  # nothing echoed the newline
        print(file=sys.stderr)
    if not code:
        raise JesError("no authorization code was entered")
    form = {"grant_type": "authorization_code", "code": code}
    if args.redirect_uri:
        form["redirect_uri"] = args.redirect_uri
    return token_request(settings, form, client_id, client_secret)


def cmd_auth(
    args: argparse.Namespace, stdin: IO[str] | None = None, stdout: IO[str] | None = None
) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    warn_unknown_env()  # this command does not configure logging: said once, plainly
    settings = load_settings(
        viya_url=args.viya_url,
        secrets_dir=args.secrets_dir,
        client_id=args.client_id,
        ca_bundle=args.ca_bundle,
        verify_tls=args.verify_tls,
    )
    now = datetime.now(UTC).timestamp()
    if args.manifest and not args.secret:
        args.secret = settings.token_secret_name or DEFAULT_SECRET_NAME
    if args.manifest and (args.show or args.refresh):
        raise JesError(
            "--manifest prints new tokens: it cannot be combined with --show or --refresh"
        )
    if args.show:
        return _show(args, settings, stdout, now)
    if not settings.viya_url:
        raise JesError("no Viya URL: set JES_VIYA_URL or pass --viya-url")
    info = sys.stderr if args.manifest else stdout  # stdout carries only the manifest then
    store = None if args.manifest else _store(args, settings)
    values = _new_tokens(args, settings, store, stdin, info)
    if args.manifest:
        stdout.write(
            manifest(args.secret, args.namespace or settings.token_secret_namespace, values)
        )
        stdout.flush()
        print(
            "note: the manifest holds the tokens; pipe it to `kubectl apply -f -` and do not store it",
            file=sys.stderr,
        )
        return 0
    assert store is not None
    written = _load_or_save(lambda: store.save(values, create=True))
    print(describe_token(values["access_token"], "access token", now), file=info)
    print(
        f"{'updated ' + ', '.join(written) if written else 'nothing changed'} in {store}", file=info
    )
    return 0


def _load_or_save(op: Callable[[], Any]) -> Any:
    """A token store's load/save, its error as the command's one line."""
    try:
        return op()
    except StoreError as e:
        raise JesError(str(e)) from None


def _show(args: argparse.Namespace, settings: Settings, stdout: IO[str], now: float) -> int:
    """`--show`: where the tokens are, whose, and when they expire -- never the tokens."""
    source = _store(args, settings)
    stored = _load_or_save(source.load)
    if not stored.get("access_token") and not stored.get("refresh_token"):
        raise JesError(f"no tokens in {source}; fix: run `jes-runner auth` first")
    print(f"source: {source}", file=stdout)
    print(f"client: {stored.get('client_id') or settings.client_id}", file=stdout)
    print(describe_token(stored.get("access_token"), "access token", now), file=stdout)
    print(describe_token(stored.get("refresh_token"), "refresh token", now), file=stdout)
    return 0


def _new_tokens(
    args: argparse.Namespace,
    settings: Settings,
    store: FileStore | SecretStore | None,
    stdin: IO[str],
    info: IO[str],
) -> dict[str, str]:
    """The values to store: a refresh of the stored tokens (``--refresh``) or a new login."""
    client_id = settings.client_id
    client_secret = settings.secret("client_secret") or ""
    if args.refresh:
        assert store is not None
        stored = _load_or_save(store.load)
        refresh = stored.get("refresh_token") or settings.secret("refresh_token")
        if not refresh:
            raise JesError(f"no refresh token in {store}; fix: log in with `jes-runner auth` first")
        client_id = args.client_id or stored.get("client_id") or client_id
        client_secret = stored.get("client_secret") or client_secret
        body = token_request(
            settings,
            {"grant_type": "refresh_token", "refresh_token": refresh},
            client_id,
            client_secret,
        )
        body.setdefault("refresh_token", refresh)  # SASLogon keeps it unless rotation is on
    else:
        body = _login(args, settings, client_id, client_secret, stdin)
    values = {"access_token": str(body["access_token"]), "client_id": client_id}
    if body.get("refresh_token"):
        values["refresh_token"] = str(body["refresh_token"])
    else:
        print(
            "note: SASLogon gave no refresh token (the client may not use that grant); the access "
            "token alone expires",
            file=info,
        )
    if client_secret:
        values["client_secret"] = client_secret
    return values


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "auth",
        help=SUMMARIES["auth"],
        description="Get the first tokens into the token files or a Kubernetes Secret: authorization-code "
        "flow (paste the code) or password grant; --refresh renews them; --show describes them "
        "without printing them.",
    )
    add_viya(p)
    p.add_argument("--client-id", help="OAuth client (JES_CLIENT_ID, default sas.cli)")
    p.add_argument(
        "--grant",
        choices=["code", "password"],
        help="default: password when JES_USERNAME/JES_PASSWORD are set, else code",
    )
    p.add_argument(
        "--username",
        help="user for the password grant (JES_USERNAME); the password comes from "
        "JES_PASSWORD or is asked for",
    )
    p.add_argument("--redirect-uri", help="redirect URI registered for the client (code flow)")
    where = p.add_argument_group(
        "where the tokens go (default: the token files in the secrets directory)"
    )
    where.add_argument(
        "--secrets-dir",
        help="token files directory (JES_SECRETS_DIR, default /var/run/secrets/jes)",
    )
    where.add_argument(
        "--secret", metavar="NAME", help="a Kubernetes Secret, through the Kubernetes API"
    )
    where.add_argument(
        "--namespace",
        help="the Secret's namespace (default: JES_TOKEN_SECRET_NAMESPACE, the "
        "pod's or the kubeconfig's namespace)",
    )
    where.add_argument(
        "--manifest",
        action="store_true",
        help="print a Secret manifest for `kubectl apply -f -` instead of writing",
    )
    where.add_argument(
        "--kube-api-url",
        help="Kubernetes API URL (JES_KUBE_API_URL; default in-cluster/kubeconfig)",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--refresh", action="store_true", help="refresh the stored tokens and rewrite them"
    )
    what.add_argument(
        "--show",
        action="store_true",
        help="show the stored token's subject and expiry (never the token)",
    )
    p.set_defaults(func=cmd_auth)

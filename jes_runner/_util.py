"""Small helpers every layer uses: UTC timestamps, finite numbers, atomic and exclusive file writes,
URLs with their credentials masked."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any


def parse_ts(value: Any) -> datetime | None:
    """ISO 8601 (with `Z`) to an aware datetime; None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


def finite(value: Any) -> float | None:
    """A finite float from a JSON value: a number, or text holding one (Viya's job properties
    are text); None for null, missing, booleans, other text or inf/NaN."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# -- AKS node names ---------------------------------------------------------------------------

# AKS names a scale-set node aks-<pool>-<scale set id>-vmss<instance index, 6 base-36 digits>
_AKS_NODE_NAME = re.compile(
    r"^aks-(?P<pool>[a-z0-9]+)-(?P<vmss>[0-9]+)-vmss(?P<index>[0-9a-z]{6})$"
)


@dataclass(frozen=True, slots=True)
class AksNodeName:
    pool: str
    vmss: str  # the scale set's id
    index: int  # the instance index (base 36 in the name)


def parse_aks_node_name(name: str | None) -> AksNodeName | None:
    """The parts of an AKS scale-set node name; None for any other name."""
    m = _AKS_NODE_NAME.match(name or "")
    return AksNodeName(m["pool"], m["vmss"], int(m["index"], 36)) if m else None


# -- figures ----------------------------------------------------------------------------------

DAY_S = 86400.0
# the longest job timeout a setting may name (and the one assumed for a job without its mark):
# beyond it a value is a typo (1e10 s overflows timers)
WEEK_S = 7 * DAY_S


def epoch_seconds(value: Any) -> float | None:
    """An ISO 8601 timestamp as unix seconds (naive means UTC); None when absent or malformed."""
    dt = parse_ts(value)
    return dt.timestamp() if dt else None


def at_rank(sorted_values: Sequence[float], rank: float) -> float:
    """The value at a fractional rank of sorted values (0 .. n-1), interpolated linearly between
    the closest ranks: numpy's default quantile method, the one every percentile here uses."""
    lo, hi = math.floor(rank), math.ceil(rank)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (rank - lo)


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100) by :func:`at_rank`, rounded to the millisecond."""
    if not values:
        return None
    xs = sorted(values)
    return round(at_rank(xs, (len(xs) - 1) * p / 100), 3)


def median_of_sorted(sorted_values: Sequence[float]) -> float:
    """The middle value (mean of the two middle ones for an even count); needs one value at least."""
    m = len(sorted_values) // 2
    if len(sorted_values) % 2:
        return sorted_values[m]
    return (sorted_values[m - 1] + sorted_values[m]) / 2


def median(values: list[float]) -> float:
    """:func:`median_of_sorted` of values in any order."""
    return median_of_sorted(sorted(values))


# -- files ------------------------------------------------------------------------------------


def _temp_beside(path: Path, mode: int | None) -> tuple[int, Path]:
    """A new temp file next to ``path``: created with O_EXCL and ``mode`` (default 0o666, so the
    umask decides -- a results volume mounted under ``umask 077`` stays private)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(
                tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                0o666 if mode is None else mode,
            )
        except FileExistsError:
            continue
        if mode is not None:
            os.fchmod(fd, mode)  # exactly this, whatever the umask (token files: 0o600)
        return fd, tmp


def _write_fd(fd: int, content: str | Callable[[IO[str]], None]) -> None:
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        if callable(content):
            content(fh)
        else:
            fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename/link itself is done


def write_atomic(
    path: Path, content: str | Callable[[IO[str]], None], mode: int | None = None
) -> None:
    """Temp file in the same directory, fsync, rename over ``path``, fsync the directory.

    ``content`` is the text, or a function writing it (streams big documents
    instead of building one string the size of the file). ``mode``: 0o600 for
    token files; None (default) lets the umask decide. Replaces an existing
    file: for files only this run writes (tokens, a named output). Files that
    two runs could both create use :func:`create_exclusive`.
    """
    fd, tmp = _temp_beside(path, mode)
    try:
        _write_fd(fd, content)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def create_exclusive(candidates: Iterable[Path], content: str | Callable[[IO[str]], None]) -> Path:
    """Write ``content`` under the first candidate name nobody holds yet, and return it.

    Complete or absent: the text is written and fsynced into a temp file, then
    hard-linked to the name (``link`` fails if the name exists: no check-then-rename
    race, an existing file is never replaced). Where hard links are not supported
    the name is opened with ``O_EXCL`` and written in place. Raises
    ``FileExistsError`` when every candidate is taken.
    """
    names = list(candidates)
    if not names:
        raise ValueError("no candidate file name")
    fd, tmp = _temp_beside(names[0], None)
    try:
        _write_fd(fd, content)
        for path in names:
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            except OSError as e:
                if e.errno not in (
                    errno.EPERM,
                    errno.ENOTSUP,
                    errno.EOPNOTSUPP,
                    errno.EXDEV,
                    errno.EMLINK,
                ):
                    raise
                return _create_in_place(names[names.index(path) :], content)
            _fsync_dir(path.parent)
            return path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    raise FileExistsError(errno.EEXIST, "every candidate name is taken", str(names[-1]))


def _create_in_place(names: list[Path], content: str | Callable[[IO[str]], None]) -> Path:
    for path in names:
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666
            )
        except FileExistsError:
            continue
        try:
            _write_fd(fd, content)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        _fsync_dir(path.parent)
        return path
    raise FileExistsError(errno.EEXIST, "every candidate name is taken", str(names[-1]))


def redact_url(url: str) -> str:
    """``url`` fit to show: no ``user:password@``, no query or fragment (tokens hide there). Used
    wherever a Viya or Pushgateway URL is logged, stored or displayed, and as the URL actually sent
    when credentials were embedded (they travel in a header instead)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "<unparsable URL>"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (kept query): what a client sends; credentials travel in headers."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(
        (parts.scheme, parts.netloc.rsplit("@", 1)[1], parts.path, parts.query, parts.fragment)
    )


class SocketDeadline:
    """A total deadline for one exchange (connect + send + every read), not a per-read timeout.

    A per-read timeout never fires against a server that trickles one byte every few
    seconds; this one does. Within ``with SocketDeadline(seconds):`` the transport
    registers each connection it uses (:meth:`current` then :meth:`watch`); when the
    time is up a timer shuts those sockets down, so the blocked read returns at once
    and the transport reports a timeout (check :attr:`expired`). Thread-local: each
    thread's exchange has its own deadline.
    """

    _local = threading.local()

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.0, seconds)
        self.expired = False
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    @classmethod
    def current(cls) -> SocketDeadline | None:
        return getattr(cls._local, "deadline", None)

    def watch(self, conn: Any) -> None:
        """``conn``: a socket, or an object whose ``sock`` attribute is one (read when the time is up)."""
        with self._lock:
            self._conns.append(conn)
            expired = self.expired
        if expired:
            _shut(conn)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            conns = list(self._conns)
        for c in conns:
            _shut(c)

    def __enter__(self) -> SocketDeadline:
        self._previous = self.current()
        self._local.deadline = self
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._local.deadline = self._previous


def _shut(conn: Any) -> None:
    sock = conn if isinstance(conn, socket.socket) else getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError, ValueError):
            sock.shutdown(socket.SHUT_RDWR)

"""Fetch a dataset's official archive: resumable, verified, safely extracted, atomic.

``download_dataset(name)`` reads the archive URL (and checksum, when the publisher gives
one) from the source's ``INFO["download"]`` and:

1. downloads into ``<dest parent>/.<name>.download/<file>.part`` with HTTP Range
   requests, so an interrupted download resumes where it stopped (a JSON side file
   remembers the URL, total size and ETag; a server that ignores Range or reports a
   different total size makes the download restart cleanly from zero);
2. checks the byte count against Content-Length (a short body is a truncated download,
   retried from where it stopped a few times, then reported) and verifies the sha256
   (or md5 where that is what the publisher gives); a mismatch deletes the file;
   without a pinned checksum it warns and prints the sha256 it computed;
3. extracts zip / tar.* / 7z (py7zr) into a temporary folder beside ``dest``, refusing
   members that escape the destination, links, device files and members that would
   overwrite a file, also unpacking archives found at the top level of the extracted tree
   (UCI wraps some datasets in an outer zip); what it writes is bounded by
   :class:`Limits` (50 GiB, 100 times the archive's size and 1,000,000 members unless
   ``$HARLAB_MAX_EXTRACT_SIZE`` / ``..._RATIO`` / ``..._MEMBERS`` or the caller say
   otherwise); every file and folder it writes is fsynced;
4. writes ``.harlab-download.json`` (URL, checksum, size) into that folder and renames
   it to ``dest``: a folder with the marker is complete, nothing else looks complete.

An existing ``dest`` is replaced only with ``force`` and only when it carries that
marker: a folder harlab did not create is never deleted. The temporary folder of a
download killed while extracting is removed by the next download into the same place;
the work folder with the partial archive is kept on purpose (the next call resumes); one
holding the archive of the complete ``dest`` (killed before its clean-up) is removed.

``HARLAB_DOWNLOAD_BASE_URL`` replaces everything before the archive's file name in the
URL (a mirror, or the local test server); ``url=`` replaces the whole URL.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harlab.errors import ConfigError, DataError
from harlab.fileio import fsync_dir, remove_stale_temps, temp_name, write_bytes_atomic
from harlab.paths import default_dest

MARKER = ".harlab-download.json"
CHUNK = 1 << 16
USER_AGENT = "harlab-downloader (+https://github.com/harlab)"
BASE_URL_ENV = "HARLAB_DOWNLOAD_BASE_URL"
RETRY_WAIT = 1.0  # seconds between resume attempts within one call
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
                    ".7z")
SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"


@dataclass(frozen=True)
class Archive:
    """Where a dataset's official archive lives and how to check it."""

    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    page: str | None = None

    @property
    def filename(self) -> str:
        name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(self.url).path)).name
        return name or "archive"


@dataclass
class DownloadResult:
    """What :func:`download_dataset` did."""

    name: str
    dest: Path
    url: str
    sha256: str
    size: int
    already_present: bool = False
    resumed_from: int = 0
    restarts: int = 0
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- specs
def archive_for(name: str) -> Archive:
    """The official archive of dataset ``name`` (ConfigError for an unknown name,
    DataError for a dataset without a public archive, saying how to get it)."""
    from harlab.data.sources import get_source

    info = get_source(name).info
    spec = info.get("download")
    if not spec or not spec.get("url"):
        how = info.get("obtain") or "see the dataset's documentation"
        raise DataError(f"{name}: no public archive to download; {how}")
    return Archive(
        url=spec["url"],
        sha256=spec.get("sha256"),
        md5=spec.get("md5"),
        size=spec.get("size"),
        page=spec.get("page"),
    )


def read_marker(dest: Path) -> dict[str, Any] | None:
    """The completion marker of a downloaded dataset folder, or None."""
    try:
        return json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _http_url(url: str, what: str) -> str:
    """``url`` when it is an http(s) URL with a host, else a ConfigError naming ``what``."""
    try:
        parts = urllib.parse.urlsplit(url)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{what} must be an http:// or https:// URL with a host, got {url!r}")
    return url


def _resolve_url(archive: Archive, url: str | None) -> str:
    if url:
        return _http_url(url, "--url")
    base = os.environ.get(BASE_URL_ENV)
    if base:
        _http_url(base, f"${BASE_URL_ENV}")
        return base.rstrip("/") + "/" + urllib.parse.quote(archive.filename)
    return archive.url


# ----------------------------------------------------------------------------- fetch
class _Progress:
    """A rich progress bar for one file (no-op when disabled)."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=None)
        return self

    def update(self, done: int, total: int | None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _network_error(url: str, exc: BaseException, page: str | None) -> DataError:
    reason = getattr(exc, "reason", exc)
    where = f" from {page}" if page else ""
    return DataError(
        f"cannot reach {url} ({reason}). Check the network connection, or download the "
        f"archive yourself{where}, extract it and pass its folder with --path (or retry "
        "with --url pointing at a mirror)"
    )


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """Parse ``bytes START-END/TOTAL`` into (START, TOTAL or None)."""
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].partition("/")
    start, _, _ = span.partition("-")
    try:
        return int(start), (int(total) if total.strip() not in ("", "*") else None)
    except ValueError:
        return None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _previous_state(url: str, part: Path, side: Path) -> dict[str, Any]:
    """What the side file remembers of an earlier download into ``part`` (URL, size,
    validators); a ``part`` left by another URL is deleted so it is never resumed."""
    state: dict[str, Any] = {}
    if part.exists():
        try:
            state = json.loads(side.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("url") != url:
            part.unlink()
            state = {}
    return state


def _range_request(url: str, have: int, state: dict[str, Any]) -> urllib.request.Request:
    """A GET for ``url`` asking for the bytes after the ``have`` already on disk (If-Range
    with the remembered ETag, so a changed file comes back whole instead of spliced)."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if state.get("etag"):
            headers["If-Range"] = state["etag"]
    return urllib.request.Request(url, headers=headers)


def _open(
    req: urllib.request.Request, url: str, have: int, timeout: float, page: str | None
) -> Any:
    """Send ``req``; None when the server answers 416 to a Range request (the part is
    complete, or longer than the remote file), else the response. Any other HTTP or
    network failure is a DataError saying what to do."""
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            return None
        raise DataError(
            f"download of {url} failed: HTTP {e.code} {e.reason}"
            + (f" (the archive may have moved; see {page})" if page else "")
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise _network_error(url, e, page) from None


def _body_plan(
    resp: Any, url: str, side: Path, have: int, state: dict[str, Any]
) -> tuple[str, int | None, dict[str, Any]] | None:
    """How to write the body of ``resp``: (file mode, total size or None, state).

    A 206 for the range we asked for appends to the part ("ab"); anything else starts
    over ("wb"), recording the new total and validators in the side file. None when a
    206 does not continue the part (the remote file changed, or the range is not the
    one we asked for)."""
    length = _int_or_none(resp.headers.get("Content-Length"))
    if resp.status == 206 and have:
        rng = _content_range(resp.headers.get("Content-Range"))
        total = rng[1] if rng else None
        known = state.get("size")
        if rng is None or rng[0] != have or (known and total and total != known):
            return None
        return "ab", total, state
    state = {
        "url": url,
        "size": length,
        "etag": resp.headers.get("ETag"),
        "last_modified": resp.headers.get("Last-Modified"),
    }
    side.write_text(json.dumps(state))
    return "wb", length, state


def _copy_body(
    resp: Any, part: Path, mode: str, done: int, total: int | None, bar: _Progress
) -> tuple[int, BaseException | None]:
    """Stream the body of ``resp`` into ``part`` (opened with ``mode``), starting from
    ``done`` bytes; returns (bytes now in the part, the error that cut the body short or
    None), so the caller can resume from there."""
    error: BaseException | None = None
    with part.open(mode) as fh:
        try:
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                fh.write(chunk)
                done += len(chunk)
                bar.update(done, total)
        except (OSError, http.client.HTTPException) as e:
            error = e
    return done, error


def _check_incomplete(
    url: str,
    part: Path,
    done: int,
    total: int | None,
    error: BaseException | None,
    attempt: int,
    retries: int,
) -> None:
    """Raise for an incomplete body that must not be resumed again: more bytes than the
    server announced (the part is deleted), or ``attempt`` past ``retries`` (the part is
    kept for the next call)."""
    if total is not None and done > total:
        part.unlink()
        raise DataError(
            f"download of {url}: received {done} bytes but the server announced "
            f"{total}; the partial file was deleted, try again"
        )
    if attempt > retries:
        why = f" ({error})" if error else ""
        raise DataError(
            f"download of {url} truncated: got {done} of {total} bytes{why}; the "
            f"partial file {part} is kept, run the same command again to resume"
        )


def fetch(
    url: str,
    part: Path,
    *,
    page: str | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
) -> tuple[int, int, int]:
    """Download ``url`` into ``part`` (resuming a previous ``part``).

    Returns (bytes, resumed_from, restarts). The side file ``part + '.json'`` records the
    URL, total size and validator so a later call can tell whether the remote file
    changed. A connection dropped mid-body is retried from where it stopped up to
    ``retries`` times; then a DataError says how much arrived (the .part stays so the
    next call resumes).
    """
    side = part.with_name(part.name + ".json")
    part.parent.mkdir(parents=True, exist_ok=True)
    state = _previous_state(url, part, side)
    resumed_from = part.stat().st_size if part.exists() else 0
    if resumed_from and state.get("size") == resumed_from:
        return resumed_from, resumed_from, 0  # finished earlier, not yet verified
    restarts = 0
    attempt = 0
    with _Progress(progress, part.name.removesuffix(".part")) as bar:
        while True:
            have = part.stat().st_size if part.exists() else 0
            resp = _open(_range_request(url, have, state), url, have, timeout, page)
            if resp is None:  # 416 to our Range request
                if state.get("size") == have:
                    return have, resumed_from, restarts  # already complete
                part.unlink()  # our part is longer than the remote file
                state = {}
                restarts += 1
                continue
            with resp:
                plan = _body_plan(resp, url, side, have, state)
                if plan is None:
                    # the remote file changed (or the range is not what we asked for)
                    resp.close()
                    part.unlink()
                    state = {}
                    restarts += 1
                    if restarts > retries + 1:
                        raise DataError(
                            f"download of {url}: the server keeps changing "
                            "the file size; try again later"
                        )
                    continue
                mode, total, state = plan
                if mode == "wb":
                    if have:
                        restarts += 1  # server ignored Range: start over cleanly
                    have = 0
                done, error = _copy_body(resp, part, mode, have, total, bar)
            if (total is None or done == total) and error is None:
                return done, resumed_from, restarts
            attempt += 1
            _check_incomplete(url, part, done, total, error, attempt, retries)
            time.sleep(RETRY_WAIT)


# ----------------------------------------------------------------------------- verify
def file_digest(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algo)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, archive: Archive, url: str) -> tuple[str, list[str]]:
    """Check ``path`` against the archive's checksum; returns (sha256, warnings)."""
    sha = file_digest(path, "sha256")
    for algo, expected, got in (
        ("sha256", archive.sha256, sha),
        ("md5", archive.md5, file_digest(path, "md5") if archive.md5 else None),
    ):
        if expected and expected.lower() != got:
            path.unlink()
            raise DataError(
                f"checksum mismatch for {url}: expected {algo} {expected.lower()}, got {got}; "
                "the downloaded file was deleted (a corrupted transfer or a changed archive)"
            )
    warnings = []
    if not archive.sha256 and not archive.md5:
        warnings.append(
            f"no pinned checksum for {archive.filename}; sha256 is {sha} (compare it with "
            "a trusted copy if integrity matters)"
        )
    return sha, warnings


# ----------------------------------------------------------------------------- extract
MAX_SIZE_ENV = "HARLAB_MAX_EXTRACT_SIZE"
MAX_RATIO_ENV = "HARLAB_MAX_EXTRACT_RATIO"
MAX_MEMBERS_ENV = "HARLAB_MAX_EXTRACT_MEMBERS"
DEFAULT_MAX_SIZE = 50 * 2**30  # bytes written in all, inner archives included
DEFAULT_MAX_RATIO = 100.0  # bytes written per byte of the downloaded archive
DEFAULT_MAX_MEMBERS = 1_000_000  # members in all, inner archives included
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str, what: str) -> int:
    """Bytes from ``'500M'``, ``'50G'``, ``'1.5T'`` or a plain number (binary units; a
    trailing ``B``/``iB`` is allowed); ConfigError naming ``what`` for anything else."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in _UNITS else ""
    try:
        value = float(t.removesuffix(unit)) * _UNITS[unit]
    except ValueError:
        value = float("nan")
    if not (value >= 1 and value < 2**63):
        raise ConfigError(f"{what} must be a size such as 500M or 50G, got {text!r}")
    return int(value)


def _parse_members(given: Any, what: str) -> int:
    """A member count of at least 1 (ConfigError naming ``what`` for anything else)."""
    try:
        value = int(str(given).strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1, got {given!r}")
    return value


@dataclass(frozen=True)
class Limits:
    """How much extraction may write: at most ``max_size`` bytes in all and at most
    ``max_ratio`` times the size of the downloaded archive (a decompression bomb stops at
    whichever comes first), and at most ``max_members`` members (files and folders) in all
    (an archive of millions of tiny files exhausts a file system's inodes)."""

    max_size: int = DEFAULT_MAX_SIZE
    max_ratio: float = DEFAULT_MAX_RATIO
    max_members: int = DEFAULT_MAX_MEMBERS

    @classmethod
    def resolve(cls, max_size: str | None = None, max_ratio: float | None = None,
                max_members: int | None = None) -> Limits:
        """The given limits, else ``$HARLAB_MAX_EXTRACT_SIZE`` / ``..._RATIO`` /
        ``..._MEMBERS``, else the defaults (ConfigError for a bad value, naming the option
        or variable)."""
        env_members = os.environ.get(MAX_MEMBERS_ENV)
        members = (
            _parse_members(max_members, "--max-extract-members") if max_members is not None
            else _parse_members(env_members, f"${MAX_MEMBERS_ENV}") if env_members
            else DEFAULT_MAX_MEMBERS
        )
        env_size, env_ratio = os.environ.get(MAX_SIZE_ENV), os.environ.get(MAX_RATIO_ENV)
        size = (
            parse_size(max_size, "--max-extract-size") if max_size is not None
            else parse_size(env_size, f"${MAX_SIZE_ENV}") if env_size
            else DEFAULT_MAX_SIZE
        )
        given, what = (max_ratio, "--max-extract-ratio") if max_ratio is not None else (
            (env_ratio, f"${MAX_RATIO_ENV}") if env_ratio else (DEFAULT_MAX_RATIO, ""))
        try:
            ratio = float(given)
        except ValueError:
            ratio = float("nan")
        if not (1 <= ratio < float("inf")):
            raise ConfigError(f"{what} must be a number of at least 1, got {given!r}")
        return cls(size, ratio, members)


class _Budget:
    """Counts the bytes and members an extraction writes against :class:`Limits`."""

    def __init__(self, archive: Path, limits: Limits) -> None:
        self.max_members, self.members = limits.max_members, 0
        self.archive = _label(archive)  # the one being extracted (extract sets it)
        size = archive.stat().st_size
        self.allowed = min(limits.max_size, int(limits.max_ratio * max(size, 1)))
        self.why = (
            f"the limit of {limits.max_size:,} bytes (--max-extract-size, "
            f"${MAX_SIZE_ENV})" if self.allowed == limits.max_size else
            f"{limits.max_ratio:g} times the {size:,} bytes of {self.archive} "
            f"(--max-extract-ratio, ${MAX_RATIO_ENV})"
        )
        self.written = 0

    def check(self, more: int) -> None:
        """Raise DataError if ``more`` bytes would take the total past the limit."""
        if self.written + more > self.allowed:
            raise DataError(
                f"{self.archive}: extraction stopped, it would write more than "
                f"{self.allowed:,} bytes, {self.why}; a decompression bomb or a much larger "
                "archive than expected. If the archive is genuine, raise the limit"
            )

    def add(self, n: int) -> None:
        self.check(n)
        self.written += n

    def add_members(self, n: int) -> None:
        """Count the ``n`` members of the archive being extracted, before any is written;
        DataError if that takes the total past the limit."""
        if self.members + n > self.max_members:
            raise DataError(
                f"{self.archive}: extraction refused, it holds {n:,} members, more than the "
                f"limit of {self.max_members - self.members:,} (--max-extract-members, "
                f"${MAX_MEMBERS_ENV}); if the archive is genuine, raise the limit"
            )
        self.members += n


def _archive_kind(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(6)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head == SEVEN_ZIP_MAGIC:
        return "7z"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, EOFError, tarfile.TarError, zlib.error):
        pass
    raise DataError(f"{path.name}: not a zip, tar or 7z archive (corrupt or unexpected download)")


def _check_member(archive: Path, name: str, dest: Path) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    target = (dest / p).resolve()
    if (
        p.is_absolute()
        or ".." in p.parts
        or (len(name) > 1 and name[1] == ":")
        or not (target == dest or dest in target.parents)
    ):
        raise DataError(
            f"{archive.name}: refusing member '{name}' that would be written outside the "
            "destination folder (path traversal); the archive is not trustworthy"
        )


def _label(archive: Path) -> str:
    return archive.name.removesuffix(".part")


def _make_dir(archive: Path, name: str, folder: Path) -> None:
    """Create ``folder`` (and its parents) for the member ``name``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # e.g. a file of that name was extracted before
        raise DataError(
            f"{_label(archive)}: cannot extract member '{name}' ({e.strerror or e})"
        ) from None


def _write_member(archive: Path, name: str, src: Any, dest: Path, budget: _Budget) -> None:
    """Copy the member ``name`` from the open file ``src`` to ``dest / name``, counting
    bytes against ``budget``; an existing file is never overwritten (an inner archive's
    member may not replace the outer archive's)."""
    target = dest / name.replace("\\", "/")
    _make_dir(archive, name, target.parent)
    try:
        fh = target.open("xb")  # new files get the umask's permissions
    except FileExistsError:
        raise DataError(
            f"{_label(archive)}: member '{name}' would overwrite a file already extracted; "
            "the archive is not what harlab expects"
        ) from None
    except OSError as e:
        raise DataError(
            f"{_label(archive)}: cannot extract member '{name}' ({e.strerror or e})"
        ) from None
    with fh:
        while chunk := src.read(CHUNK):
            budget.add(len(chunk))
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())  # on disk before the download is declared complete


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> int:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        budget.add_members(len(infos))
        for zi in infos:
            _check_member(archive, zi.filename, dest)
            if stat.S_ISLNK(zi.external_attr >> 16):
                raise DataError(f"{archive.name}: refusing symbolic link member '{zi.filename}'")
        budget.check(sum(zi.file_size for zi in infos))  # declared sizes; counted again below
        for zi in infos:
            if zi.is_dir():
                _make_dir(archive, zi.filename, dest / zi.filename.replace("\\", "/"))
                continue
            with zf.open(zi) as src:
                _write_member(archive, zi.filename, src, dest, budget)
        return len(infos)


def _extract_tar(archive: Path, dest: Path, budget: _Budget) -> int:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        budget.add_members(len(members))
        for m in members:
            _check_member(archive, m.name, dest)
            if m.issym() or m.islnk():
                raise DataError(f"{archive.name}: refusing link member '{m.name}'")
            if not (m.isfile() or m.isdir()):
                raise DataError(f"{archive.name}: refusing special file member '{m.name}'")
        budget.check(sum(m.size for m in members if m.isfile()))
        for m in members:
            if m.isdir():
                _make_dir(archive, m.name, dest / m.name)
                continue
            src = tf.extractfile(m)
            assert src is not None  # a regular file (checked above)
            with src:
                _write_member(archive, m.name, src, dest, budget)
        return len(members)


class _SevenZipMember:
    """A py7zr writer (``py7zr.io.Py7zIO``) that writes one member to a new file, counting
    its bytes against the budget."""

    def __init__(self, archive: Path, name: str, dest: Path, budget: _Budget) -> None:
        target = dest / name
        _make_dir(archive, name, target.parent)
        try:
            self.fh = target.open("xb")
        except FileExistsError:
            raise DataError(
                f"{_label(archive)}: member '{name}' would overwrite a file already extracted; "
                "the archive is not what harlab expects"
            ) from None
        self.budget, self.n = budget, 0

    def write(self, data: bytes | bytearray) -> int:
        self.budget.add(len(data))
        self.n += len(data)
        return self.fh.write(data)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.n

    def flush(self) -> None:
        self.fh.flush()

    def size(self) -> int:
        return self.n

    def close(self) -> None:
        """Flush the member to disk (before the download is declared complete) and close."""
        if not self.fh.closed:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()


def _extract_7z(archive: Path, dest: Path, budget: _Budget) -> int:
    try:
        import py7zr
    except ImportError:  # pragma: no cover - a dependency of harlab
        msg = f"{_label(archive)}: a 7z archive needs py7zr (pip install py7zr)"
        raise DataError(msg) from None

    members: list[_SevenZipMember] = []

    class Factory:  # py7zr.io.WriterFactory: gets each member's sanitised path below dest
        def create(self, filename: str) -> _SevenZipMember:
            name = Path(filename).resolve().relative_to(dest).as_posix()
            members.append(_SevenZipMember(archive, name, dest, budget))
            return members[-1]

    with py7zr.SevenZipFile(archive, mode="r") as z:
        infos = z.list()
        budget.add_members(len(infos))
        for fi in infos:
            _check_member(archive, fi.filename, dest)
            if fi.is_symlink or not (fi.is_file or fi.is_directory):
                raise DataError(f"{archive.name}: refusing link or special member '{fi.filename}'")
        budget.check(sum(fi.uncompressed or 0 for fi in infos if fi.is_file))
        for fi in infos:
            if fi.is_directory:
                _make_dir(archive, fi.filename, dest / fi.filename.replace("\\", "/"))
        try:
            z.extractall(path=dest, factory=Factory())
        finally:
            for m in members:
                m.close()
        for fi in infos:  # an empty member is never written to
            target = dest / fi.filename.replace("\\", "/")
            if fi.is_file and not target.exists():
                _SevenZipMember(archive, fi.filename, dest, budget).close()
    return len(infos)


def extract(archive: Path, dest: Path, budget: _Budget | None = None) -> int:
    """Extract a zip/tar/7z archive into the existing folder ``dest``; returns member count.

    Every member name is checked first; absolute paths, ``..`` components, symbolic and
    hard links and device files are refused (DataError) before anything is written, as
    is an archive whose declared sizes exceed the ``budget`` (default: :class:`Limits`
    from the environment); the bytes actually written are counted against it too.
    Existing files are never overwritten; files and folders get the umask's permissions.
    """
    dest = dest.resolve()
    budget = budget or _Budget(archive, Limits.resolve())
    budget.archive = _label(archive)
    kind = _archive_kind(archive)
    try:
        if kind == "zip":
            return _extract_zip(archive, dest, budget)
        if kind == "7z":
            return _extract_7z(archive, dest, budget)
        return _extract_tar(archive, dest, budget)
    except DataError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, ValueError,
            *_seven_zip_errors()) as e:
        raise DataError(
            f"{archive.name}: corrupt archive ({e}); delete it and download again"
        ) from None
    except OSError as e:  # a full disk, an unreadable archive
        raise DataError(f"{_label(archive)}: cannot extract it ({e.strerror or e})") from None


def _seven_zip_errors() -> tuple[type[BaseException], ...]:
    try:
        from py7zr.exceptions import ArchiveError
    except ImportError:  # pragma: no cover - a dependency of harlab
        return ()
    import lzma

    return (ArchiveError, lzma.LZMAError)


def _is_archive(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES)


def extract_all(archive: Path, dest: Path, scratch: Path, limits: Limits | None = None) -> int:
    """Extract ``archive`` into ``dest``, then any archives at the top level of the result
    (one level): each is first moved into the folder ``scratch`` (outside ``dest``), so
    that a member of the same name cannot clash with it. All levels together stay within
    ``limits`` (relative to the size of ``archive``)."""
    budget = _Budget(archive, limits or Limits.resolve())
    n = extract(archive, dest, budget)
    for inner in sorted(p for p in dest.iterdir() if _is_archive(p)):
        aside = scratch / inner.name
        os.replace(inner, aside)
        n += extract(aside, dest, budget)
        aside.unlink()
    for folder, _, _ in os.walk(dest):  # the entries of every new file, on disk
        fsync_dir(folder)
    return n


# ----------------------------------------------------------------------------- main
def _archive_with_overrides(
    name: str, url: str | None, sha256: str | None, md5: str | None
) -> Archive:
    """The registered archive of ``name`` with the caller's overrides applied. A new URL
    drops the registered checksums and size (they describe another file) unless checksums
    come with it; the checksums must be hex of the right length (ConfigError)."""
    archive = archive_for(name)
    if url or sha256 or md5:
        archive = Archive(
            url=url or archive.url,
            sha256=sha256 if (sha256 or md5) else (None if url else archive.sha256),
            md5=md5 if (sha256 or md5) else (None if url else archive.md5),
            size=None if url else archive.size,
            page=archive.page,
        )
    for algo, value, n in (("sha256", archive.sha256, 64), ("md5", archive.md5, 32)):
        if value and (len(value) != n or any(c not in "0123456789abcdefABCDEF" for c in value)):
            raise ConfigError(f"--{algo} must be {n} hex digits, got {value!r}")
    return archive


def _already_downloaded(name: str, dest: Path, src: str) -> DownloadResult:
    """The result for the existing ``dest`` when it is a complete earlier download (its
    marker says so); anything else there is a DataError, never replaced."""
    marker = read_marker(dest) if dest.is_dir() else None
    if marker is not None:
        return DownloadResult(
            name,
            dest,
            marker.get("url", src),
            marker.get("sha256", ""),
            int(marker.get("size", 0)),
            already_present=True,
        )
    raise _not_ours(dest)


def _remove_finished_work(dest: Path, work: Path, say: Callable[[str], None]) -> None:
    """Remove the work folder ``work`` when it holds just the archive of the complete
    download in ``dest`` (same URL and size: a download killed after its rename, before its
    clean-up); a partial download of anything else there is kept for resuming."""
    marker = read_marker(dest) if dest.is_dir() else None
    parts = list(work.glob("*.part")) if work.is_dir() else []
    if marker is None or len(parts) != 1:
        return
    try:
        state = json.loads(parts[0].with_name(parts[0].name + ".json").read_text())
        size = parts[0].stat().st_size
    except (OSError, ValueError):
        return
    if isinstance(state, dict) and state.get("url") == marker.get("url") \
            and size == marker.get("size"):
        shutil.rmtree(work, ignore_errors=True)
        say(f"removed {work}: the archive of the finished download in {dest}, left by a "
            "download killed before it cleaned up")


def _not_ours(dest: Path) -> DataError:
    return DataError(
        f"{dest} exists and is not a harlab download (no {MARKER}); harlab never replaces "
        "a folder it did not create, even with --force: choose another --dest, or move "
        "it away yourself"
    )


def _fetch_checked(
    src: str,
    part: Path,
    work: Path,
    archive: Archive,
    *,
    retries: int,
    timeout: float,
    progress: bool,
    say: Callable[[str], None],
) -> tuple[int, int, int, str, list[str]]:
    """Fetch ``src`` into ``part`` and check it against the archive's documented size and
    checksum; returns (size, resumed_from, restarts, sha256, warnings). The work folder
    is removed when there is nothing worth resuming (no part, or a bad checksum)."""
    try:
        size, resumed_from, restarts = fetch(
            src, part, page=archive.page, retries=retries, timeout=timeout, progress=progress
        )
    except DataError:
        if not part.exists():  # nothing to resume: leave no empty work folder behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    if resumed_from:
        say(f"resumed from byte {resumed_from}")
    if archive.size is not None and size != archive.size:
        part.unlink()
        raise DataError(
            f"download of {src}: {size} bytes, but the archive is documented as "
            f"{archive.size} bytes; the file was deleted"
        )
    try:
        sha, warnings = verify(part, archive, src)
    except DataError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return size, resumed_from, restarts, sha, warnings


def _keep(part: Path, target: Path, warnings: list[str]) -> None:
    """Keep the archive as ``target``, unless a file of that name is there (never
    overwritten: a warning says so and the archive is deleted with the work folder)."""
    try:
        os.link(part, target)  # fails if target exists, where os.replace would overwrite it
    except FileExistsError:
        warnings.append(f"--keep-archive: {target} exists, so the archive was not kept")
    except OSError:  # a file system without hard links
        if target.exists() or target.is_symlink():
            warnings.append(f"--keep-archive: {target} exists, so the archive was not kept")
        else:
            os.replace(part, target)


EXTRACT_PREFIX = "extract"  # the temporary folder beside dest: .DEST.extract-PID-RANDOM


def _umask() -> int:
    """This process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _stage_prefix(dest: Path) -> str:
    return f".{dest.name}.{EXTRACT_PREFIX}"


def _install(
    part: Path,
    dest: Path,
    work: Path,
    record: dict[str, Any],
    limits: Limits,
    say: Callable[[str], None],
) -> None:
    """Extract ``part`` into a temporary folder beside ``dest``, write the completion
    marker (``record`` plus member count and time) and rename the folder to ``dest``,
    replacing an old download (--force; only one that has the marker): ``dest`` is never
    left half-extracted. A failed extraction deletes the work folder (the archive is
    unusable, a rerun downloads it again)."""
    stage = dest.parent / temp_name(_stage_prefix(dest))
    stage.mkdir()  # the umask's permissions, as every folder extraction creates
    tree = stage / "tree"
    tree.mkdir()
    try:
        say(f"extracting {part.name.removesuffix('.part')}")
        try:
            n = extract_all(part, tree, stage, limits)
        except Exception:
            shutil.rmtree(work, ignore_errors=True)
            raise
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        text = json.dumps({**record, "members": n, "downloaded": stamp}, indent=2)
        write_bytes_atomic(tree / MARKER, text.encode(), mode=0o666 & ~_umask())
        if dest.exists() or dest.is_symlink():  # --force: checked again, just before
            if read_marker(dest) is None or not dest.is_dir():
                raise _not_ours(dest)
            os.replace(dest, stage / "old")
        os.replace(tree, dest)
        fsync_dir(dest.parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def download_dataset(
    name: str,
    dest: str | Path | None = None,
    *,
    url: str | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    force: bool = False,
    keep_archive: bool = False,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
    limits: Limits | None = None,
    log: Callable[[str], None] | None = None,
) -> DownloadResult:
    """Download, verify and extract dataset ``name`` into ``dest`` (see module docstring).

    ``url``/``sha256``/``md5`` override the registered archive (a mirror; the tests' local
    server). An existing complete download (marker present) is reused, or replaced with
    ``force``; any other existing ``dest`` is refused. ``limits`` bound what extraction
    writes (default :meth:`Limits.resolve`).
    """
    archive = _archive_with_overrides(name, url, sha256, md5)
    limits = limits or Limits.resolve()
    say = log or (lambda _msg: None)
    src = _resolve_url(archive, url)
    dest = Path(dest).expanduser() if dest is not None else default_dest(name)
    ours = dest.is_dir() and read_marker(dest) is not None
    work = dest.parent / f".{dest.name}.download"
    if (dest.exists() or dest.is_symlink()) and not (force and ours):
        result = _already_downloaded(name, dest, src)  # reused, or refused when not ours
        _remove_finished_work(dest, work, say)
        return result
    dest.parent.mkdir(parents=True, exist_ok=True)
    for old in remove_stale_temps(dest.parent, re.escape(_stage_prefix(dest))):
        say(f"removed {old}, left by a download that was killed")
    part = work / (archive.filename + ".part")
    say(f"downloading {src}")
    size, resumed_from, restarts, sha, warnings = _fetch_checked(
        src, part, work, archive, retries=retries, timeout=timeout, progress=progress, say=say
    )
    record = {"name": name, "url": src, "sha256": sha, "md5": archive.md5, "size": size}
    _install(part, dest, work, record, limits, say)
    if keep_archive:
        _keep(part, dest.parent / archive.filename, warnings)
    shutil.rmtree(work, ignore_errors=True)
    return DownloadResult(
        name,
        dest,
        src,
        sha,
        size,
        resumed_from=resumed_from,
        restarts=restarts,
        warnings=warnings,
    )


__all__ = [
    "Archive",
    "DownloadResult",
    "Limits",
    "archive_for",
    "default_dest",
    "download_dataset",
    "extract",
    "extract_all",
    "fetch",
    "file_digest",
    "parse_size",
    "read_marker",
    "verify",
]

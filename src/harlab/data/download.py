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
3. extracts zip / tar.* into a temporary folder beside ``dest``, refusing members that
   escape the destination, links and device files, also unpacking archives found at the
   top level of the extracted tree (UCI wraps some datasets in an outer zip);
4. writes ``.harlab-download.json`` (URL, checksum, size) into that folder and renames
   it to ``dest``: a folder with the marker is complete, nothing else looks complete.

``HARLAB_DOWNLOAD_BASE_URL`` replaces everything before the archive's file name in the
URL (a mirror, or the local test server); ``url=`` replaces the whole URL.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import stat
import tarfile
import tempfile
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
from harlab.paths import default_dest

MARKER = ".harlab-download.json"
CHUNK = 1 << 16
USER_AGENT = "harlab-downloader (+https://github.com/harlab)"
BASE_URL_ENV = "HARLAB_DOWNLOAD_BASE_URL"
RETRY_WAIT = 1.0  # seconds between resume attempts within one call
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


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


def _resolve_url(archive: Archive, url: str | None) -> str:
    if url:
        return url
    base = os.environ.get(BASE_URL_ENV)
    if base:
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
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
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
def _archive_kind(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, EOFError, tarfile.TarError, zlib.error):
        pass
    raise DataError(f"{path.name}: not a zip or tar archive (corrupt or unexpected download)")


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


def extract(archive: Path, dest: Path) -> int:
    """Extract a zip/tar archive into the existing folder ``dest``; returns member count.

    Every member name is checked first; absolute paths, ``..`` components, symbolic and
    hard links and device files are refused (DataError) before anything is written.
    """
    dest = dest.resolve()
    kind = _archive_kind(archive)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for zi in infos:
                    _check_member(archive, zi.filename, dest)
                    mode = zi.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        raise DataError(
                            f"{archive.name}: refusing symbolic link member '{zi.filename}'"
                        )
                zf.extractall(dest)
                return len(infos)
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member(archive, m.name, dest)
                if m.issym() or m.islnk():
                    raise DataError(f"{archive.name}: refusing link member '{m.name}'")
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"{archive.name}: refusing special file member '{m.name}'")
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: belt and braces
                tf.extractall(dest, filter="data")
            else:  # pragma: no cover (members were all checked above)
                tf.extractall(dest)
            return len(members)
    except DataError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, ValueError) as e:
        raise DataError(
            f"{archive.name}: corrupt archive ({e}); delete it and download again"
        ) from None


def _is_archive(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES)


def extract_all(archive: Path, dest: Path) -> int:
    """Extract ``archive`` and any archives at the top level of the result (one level)."""
    n = extract(archive, dest)
    for inner in sorted(p for p in dest.iterdir() if _is_archive(p)):
        n += extract(inner, dest)
        inner.unlink()
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
    marker says so); anything else there is a DataError, never silently replaced."""
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
    raise DataError(
        f"{dest} exists but is not a complete harlab download (no {MARKER}); remove it, "
        "pass --force to replace it, or choose another --dest"
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


def _install(
    part: Path,
    dest: Path,
    work: Path,
    filename: str,
    record: dict[str, Any],
    say: Callable[[str], None],
) -> None:
    """Extract ``part`` into a temporary folder beside ``dest``, write the completion
    marker (``record`` plus member count and time) and rename the folder to ``dest``,
    replacing an old one (--force): ``dest`` is never left half-extracted."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        say(f"extracting {filename}")
        try:
            n = extract_all(part, tmp)
        except DataError:
            shutil.rmtree(work, ignore_errors=True)  # unusable: never resume or reuse it
            raise
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    **record,
                    "members": n,
                    "downloaded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                },
                indent=2,
            )
        )
        if dest.exists():  # force: move the old folder aside, then delete it
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old / "d")
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
    log: Callable[[str], None] | None = None,
) -> DownloadResult:
    """Download, verify and extract dataset ``name`` into ``dest`` (see module docstring).

    ``url``/``sha256``/``md5`` override the registered archive (a mirror; the tests' local
    server). An existing complete download (marker present) is reused unless ``force``.
    """
    archive = _archive_with_overrides(name, url, sha256, md5)
    say = log or (lambda _msg: None)
    src = _resolve_url(archive, url)
    dest = Path(dest).expanduser() if dest is not None else default_dest(name)
    if dest.exists() and not force:
        return _already_downloaded(name, dest, src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.download"
    part = work / (archive.filename + ".part")
    say(f"downloading {src}")
    size, resumed_from, restarts, sha, warnings = _fetch_checked(
        src, part, work, archive, retries=retries, timeout=timeout, progress=progress, say=say
    )
    record = {"name": name, "url": src, "sha256": sha, "md5": archive.md5, "size": size}
    _install(part, dest, work, archive.filename, record, say)
    if keep_archive:
        os.replace(part, dest.parent / archive.filename)
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
    "archive_for",
    "default_dest",
    "download_dataset",
    "extract",
    "extract_all",
    "fetch",
    "file_digest",
    "read_marker",
    "verify",
]

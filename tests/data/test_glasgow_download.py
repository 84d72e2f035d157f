"""``harlab data download glasgow``: the official archive is a .7z, served here by the
local test server with the archive's layout and file format."""

from __future__ import annotations

import io

from typer.testing import CliRunner

from harlab.cli.main import app
from harlab.data import download as dl
from harlab.errors import DataError
from tests.radar.test_glasgow_import import archive

runner = CliRunner()


def make_7z(members: dict[str, bytes]) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(data, name)
    return buf.getvalue()


def test_download_glasgow_7z_from_a_local_server(server, tmp_path, monkeypatch):
    src = archive(tmp_path / "src", seconds=0.01)  # small: compressing is slow
    members = {p.relative_to(src).as_posix(): p.read_bytes() for p in src.rglob("*.dat")}
    url, sha = server.add("Dataset_848.7z", make_7z(members))
    monkeypatch.setenv(dl.BASE_URL_ENV, url.rsplit("/", 1)[0])
    dest = tmp_path / "G"
    res = runner.invoke(app, ["data", "download", "glasgow", "--dest", str(dest)])
    assert res.exit_code == 0, res.output
    out = res.output.replace("\n", "")
    assert f"sha256 {sha}, extracted to {dest}" in out and "no pinned checksum" in out
    assert "harlab radar frames-from-glasgow" in out
    got = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*.dat")}
    assert got == members and (dest / dl.MARKER).is_file()
    # a 7z that would write more than the budget allows stops before filling the disk
    url, _ = server.add("bomb.7z", make_7z({"a/zeros.dat": bytes(4_000_000)}))
    monkeypatch.setenv(dl.MAX_RATIO_ENV, "2")
    res = runner.invoke(app, ["data", "download", "glasgow", "--dest", str(tmp_path / "B"),
                              "--url", url])
    assert isinstance(res.exception, DataError) and "extraction stopped" in str(res.exception)
    assert not (tmp_path / "B").exists()


def test_7z_links_are_refused(server, tmp_path):
    import os

    import py7zr

    os.symlink("/etc/passwd", tmp_path / "l")
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.write(tmp_path / "l", "a/l")
    url, _ = server.add("link.7z", buf.getvalue())
    res = runner.invoke(app, ["data", "download", "glasgow", "--dest", str(tmp_path / "G"),
                              "--url", url])
    assert isinstance(res.exception, DataError)
    assert "refusing link or special member 'a/l'" in str(res.exception)
    assert not (tmp_path / "G").exists()
    junk, _ = server.add("junk.7z", dl.SEVEN_ZIP_MAGIC + b"not really 7z" * 20)
    res = runner.invoke(app, ["data", "download", "glasgow", "--dest", str(tmp_path / "J"),
                              "--url", junk])
    assert isinstance(res.exception, DataError) and "corrupt archive" in str(res.exception)

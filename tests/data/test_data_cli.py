"""``harlab data download|info`` through the CLI, served by a local HTTP server."""

from __future__ import annotations

import json
import socket
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from harlab.cli import main as cli
from harlab.data import download as dl
from tests.data.test_basicmotions import cases, ts_text
from tests.data.test_download import make_zip

runner = CliRunner()


def basicmotions_zip() -> bytes:
    xtr, ytr = cases(8, seed=1)
    xte, yte = cases(4, seed=2)
    return make_zip(
        {
            "BasicMotions_TRAIN.ts": ts_text(xtr, ytr).encode(),
            "BasicMotions_TEST.ts": ts_text(xte, yte).encode(),
        }
    )


def test_download_then_info(server, tmp_path, monkeypatch):
    url, sha = server.add("BasicMotions.zip", basicmotions_zip())
    monkeypatch.setenv(dl.BASE_URL_ENV, url.rsplit("/", 1)[0])
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path / "elsewhere"))
    dest = tmp_path / "bm"
    res = runner.invoke(cli.app, ["data", "download", "basicmotions", "--dest", str(dest)])
    assert res.exit_code == 0, res.output
    assert f"sha256 {sha}, extracted to {dest}" in res.output.replace("\n", "")
    assert "no pinned checksum" in res.output  # stderr is mixed into output by CliRunner
    assert f"--path '{dest}'" in res.output.replace("\n", "")  # not a default location
    res = runner.invoke(cli.app, ["data", "info", "basicmotions", "--path", str(dest), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["local"]["present"] and d["local"]["where"] == str(dest)
    files = sorted(p for p in dest.rglob("*.ts"))  # the two files the loader reads
    assert d["local"]["input_files"] == len(files) == 2
    assert d["local"]["input_bytes"] == sum(p.stat().st_size for p in files)
    assert d["documented"]["size"].startswith("80 series of 100 samples x 6 channels")
    assert d["counts"]["recordings"] == 12 and d["counts"]["subjects"] == 12
    assert d["counts"]["classes_present"] == {
        "0": "Standing",
        "1": "Running",
        "2": "Walking",
        "3": "Badminton",
    }
    assert d["counts"]["official_split"] and d["documented"]["classes"] == 4
    res = runner.invoke(cli.app, ["data", "info", "basicmotions", "--path", str(dest)])
    assert res.exit_code == 0 and "12 recordings" in res.output and "present" in res.output
    again = runner.invoke(cli.app, ["data", "download", "basicmotions", "--dest", str(dest)])
    assert "already downloaded" in again.output and len(server.requests) == 1


def test_default_destination_is_found_by_the_loader(server, tmp_path, monkeypatch):
    url, sha = server.add("mirror.zip", basicmotions_zip())
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    res = runner.invoke(
        cli.app, ["data", "download", "basicmotions", "--url", url, "--sha256", sha]
    )
    assert res.exit_code == 0, res.output
    assert "WARNING" not in res.output and "use it with" not in res.output
    assert (tmp_path / "basicmotions" / "BasicMotions_TRAIN.ts").is_file()
    d = json.loads(runner.invoke(cli.app, ["data", "info", "basicmotions", "--json"]).stdout)
    assert d["local"]["where"] == str(tmp_path / "basicmotions")
    assert d["counts"]["samples"] == 12 * 8


def test_info_without_local_data_shows_documented_facts(tmp_path, monkeypatch):
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    res = runner.invoke(cli.app, ["data", "info", "opportunity", "--json"])
    d = json.loads(res.stdout)
    assert not d["local"]["present"] and "OPPORTUNITY not found" in d["local"]["reason"]
    assert d["counts"] is None and d["documented"]["channels"] == 113
    assert d["download"]["url"].endswith("opportunity+activity+recognition.zip")
    assert "Chavarriaga" in d["citation"] and d["licence"].startswith("CC BY 4.0")
    res = runner.invoke(cli.app, ["data", "info", "opportunity"])
    assert "not found" in res.output and "archive.ics.uci.edu" in res.output
    assert "24 runs" in res.output and d["local"]["input_bytes"] is None


def test_every_dataset_with_files_documents_its_size():
    from harlab.data.sources import get_source, list_sources

    for src in list_sources():
        if src.name not in ("custom", "weak", "radar_frames"):  # no fixed content
            assert get_source(src.name).info.get("size"), src.name


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["harlab", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return int(exc.value.code or 0), capsys.readouterr().err


def test_cli_errors_are_one_line(monkeypatch, capsys, tmp_path):
    code, err = run_main(monkeypatch, capsys, "data", "download", "basicmotion")
    assert code == 2 and "Did you mean 'basicmotions'" in err and "Traceback" not in err
    code, err = run_main(monkeypatch, capsys, "data", "download", "hapt")
    assert code == 2 and "no public archive" in err and "kcc2020" in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, err = run_main(
        monkeypatch,
        capsys,
        "data",
        "download",
        "uci_har",
        "--dest",
        str(tmp_path / "u"),
        "--url",
        f"http://127.0.0.1:{port}/uci.zip",
    )
    assert code == 2 and f"cannot reach http://127.0.0.1:{port}/uci.zip" in err
    code, err = run_main(monkeypatch, capsys, "data", "info", "wisdmm")
    assert code == 2 and "Did you mean 'wisdm'" in err
    dest = str(tmp_path / "u")
    for args, message in (
        (["--url", "notaurl"], "--url must be an http:// or https:// URL with a host, got "
                               "'notaurl'"),
        (["--max-extract-size", "huge"], "--max-extract-size must be a size such as 500M"),
        (["--max-extract-ratio", "0"], "--max-extract-ratio must be a number of at least 1"),
        (["--max-extract-members", "0"], "--max-extract-members must be a whole number of at "
                                         "least 1, got 0"),
    ):
        code, err = run_main(monkeypatch, capsys, "data", "download", "uci_har", "--dest", dest,
                             *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, err = run_main(monkeypatch, capsys, "data", "download", "uci_har", "--dest", str(mine),
                         "--url", "http://127.0.0.1:9/uci.zip", "--force")
    assert code == 2 and "is not a harlab download" in err and "even with --force" in err
    assert (mine / "notes.txt").read_text() == "keep me" and len(list(mine.iterdir())) == 1
    assert not np.any([p.name.startswith(".u") for p in tmp_path.iterdir()])

"""Glasgow archive end to end: file-name quirks, campaigns, copies, the person's range bins,
the 7z download against a local server, and ``harlab radar frames-from-glasgow``."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from harlab.cli.main import app
from harlab.errors import DataError
from harlab.radar import glasgow
from harlab.radar.glasgow_import import campaigns, frames_from_glasgow, glasgow_processing
from harlab.radar.processing import ProcessingConfig, process
from harlab.radar.types import SPEED_OF_LIGHT
from tests.radar.test_glasgow import HEADER, beat_samples, matlab_lines, write_dat

runner = CliRunner()
CODES = {a: i + 1 for i, a in enumerate(glasgow.ACTIVITIES)}  # A01 -> K 1


def archive(root, seconds=1.8):
    """Two campaigns in a wrapper folder, with the archive's quirks: person P01 in both
    (different people), R1 and R01, lower case and a blank in a name, K disagreeing with
    Ayy, and a byte-identical copy."""
    n = int(seconds * 1000)
    c1, c2 = root / "Dataset_848" / "1 December 2017 Dataset", root / "Dataset_848" / "2 March"
    files = {
        c1 / "1P01A01R01.dat": (3.0, 1.0),
        c1 / "1P01A01R02.dat": (3.2, 0.9),
        c1 / "2P02A02R1.dat": (4.0, -0.6),
        c2 / "1P01A01R1.dat": (5.0, 1.2),  # another P01
        c2 / "2p01a02 r2.dat": (6.0, -0.5),  # lower case and a blank
        c2 / "3P02A02R1.dat": (4.5, 0.4),  # K 3 (standing) vs A02 (sitting)
    }
    for path, (r0, v) in files.items():
        write_dat(path, beat_samples(n_chirps=n, r0=r0, v=v))
    shutil.copy(c1 / "1P01A01R01.dat", c2 / "1P09A01R3.dat")  # the same bytes
    return root


def test_campaigns_ignore_shared_wrapper_folders(tmp_path):
    f = [tmp_path / "w" / "a" / "x.dat", tmp_path / "w" / "b" / "c" / "y.dat"]
    assert campaigns(tmp_path, f) == {f[0]: "a", f[1]: "b/c"}
    one = [tmp_path / "w" / "a" / "x.dat", tmp_path / "w" / "a" / "y.dat"]
    assert set(campaigns(tmp_path, one).values()) == {"a"}
    assert set(campaigns(tmp_path, [tmp_path / "x.dat"]).values()) == {tmp_path.name}


def test_frames_from_glasgow_handles_the_quirks(tmp_path):
    s = frames_from_glasgow(archive(tmp_path / "G"), tmp_path / "F", progress=False)
    g = json.loads((tmp_path / "F" / "glasgow.json").read_text())
    assert g == s["glasgow"] and g["dat_files"] == 7
    assert g["duplicates_dropped"] == 1 and g["duplicates"] == [{
        "file": "Dataset_848/2 March/1P09A01R3.dat",
        "copy_of": "Dataset_848/1 December 2017 Dataset/1P01A01R01.dat"}]
    assert g["label_disagreements"] == 1 and g["labelled_by_k"] == [
        "Dataset_848/2 March/3P02A02R1.dat"]
    t = pd.read_csv(tmp_path / "F" / "labels.csv")
    assert len(t) == s["n_recordings"] == 6
    rows = {r.recording.split("/")[-1]: r for r in t.itertuples()}
    assert rows["3P02A02R1.dat"].activity == "standing"  # K, not A02
    assert rows["3P02A02R1.dat"].activity_code == "A02" and not rows["3P02A02R1.dat"].codes_agree
    assert rows["2p01a02 r2.dat"].activity == "sitting" and rows["2p01a02 r2.dat"].repetition == 2
    assert rows["1P01A01R02.dat"].repetition == 2 and rows["1P01A01R1.dat"].repetition == 1
    assert sorted(set(t.person)) == [
        "1 December 2017 Dataset/P01", "1 December 2017 Dataset/P02", "2 March/P01",
        "2 March/P02"]
    assert set(t.campaign) == {"1 December 2017 Dataset", "2 March"}
    assert (t.n_frames > 0).all()
    stack = np.load(tmp_path / "F" / t.file[0])
    assert stack.shape[1:] == (100, 150) and np.isfinite(stack).all()
    meta = json.loads((tmp_path / "F" / "dataset.json").read_text())
    assert meta["processing"]["range_select"] == "energy"


def test_the_range_bins_follow_the_person(tmp_path):
    """A person at 10 m (beyond the default fixed 1.5-7.5 m gate) under static clutter 30 dB
    stronger at 2 m: the energy gate after MTI finds the person's bins."""
    n, nts = 3000, 128
    t_fast = np.arange(nts) * 1e-3 / nts

    def target(r):
        tau = 2 * np.asarray(r, dtype=float)[:, None] / SPEED_OF_LIGHT
        return np.exp(2j * np.pi * (5.8e9 * tau + 4e11 * tau * t_fast[None, :]))

    r_person = 10.0 + 0.3 * np.sin(2 * np.pi * 0.5 * np.arange(n) / 1000)
    z = 1e-3 * target(r_person) + 3e-2 * target(np.full(n, 2.0))
    raw = glasgow.parse_dat("\n".join([*HEADER, *matlab_lines(z.ravel())]), "a/1P01A01R1.dat")
    spec = process(raw, glasgow_processing())
    lo, hi = spec.range_time.gate_m
    assert lo <= 10.0 <= hi and lo > 2.5 and hi - lo < 3.0
    assert spec.meta["range_gate_m"] == [round(lo, 4), round(hi, 4)]
    fixed = process(raw, ProcessingConfig())
    assert fixed.range_time.gate_m == (1.5, 7.5)
    # the fixed gate holds only the person's FFT sidelobes: 2.5 times less at the peak
    assert spec.magnitude.max() > 2 * fixed.magnitude.max()
    with pytest.raises(DataError, match="contains no range bin"):
        process(raw, ProcessingConfig(range_select="energy", range_min_m=40, range_max_m=50))
    # a person walking from 3 to 8 m gets a band that spans the walk
    walk = 1e-3 * target(3.0 + 5.0 * np.arange(n) / n)
    raw = glasgow.parse_dat("\n".join([*HEADER, *matlab_lines(walk.ravel())]), "a/1P01A01R1.dat")
    lo, hi = process(raw, glasgow_processing()).range_time.gate_m
    assert lo <= 4.0 and hi >= 7.5


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """``harlab ARGS`` through the entry point that maps errors to one line and exit 2."""
    import sys

    from harlab.cli.main import main

    monkeypatch.setattr(sys, "argv", ["harlab", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0), capsys.readouterr().err


def test_cli_converts_and_refuses_bad_names(tmp_path, monkeypatch, capsys):
    g = archive(tmp_path / "G")
    res = runner.invoke(app, ["radar", "frames-from-glasgow", str(g), "--out",
                              str(tmp_path / "F"), "--no-progress"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "from 6 recordings" in out and "4 persons" in out and "7 .dat files" in out
    assert "1 byte-identical copies dropped" in out and "1 labelled by K" in out
    write_dat(g / "Dataset_848" / "2 March" / "7P01A01R1.dat", beat_samples(n_chirps=4))
    code, err = run_main(monkeypatch, capsys, "radar", "frames-from-glasgow", str(g), "--out",
                         str(tmp_path / "F2"), "--no-progress")
    assert code == 2 and "7P01A01R1.dat" in err and "K must be 1-6" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3  # one line, wrapped
    assert not (tmp_path / "F2").exists()
    (g / "Dataset_848" / "2 March" / "7P01A01R1.dat").unlink()
    code, err = run_main(monkeypatch, capsys, "radar", "frames-from-glasgow", str(g), "--out",
                         str(tmp_path / "F"), "--no-progress")
    assert code == 2 and "refusing to overwrite" in err


def test_glasgow_source_loads_the_archive_folder(tmp_path):
    from harlab.data.sources import get_source

    rs = get_source("glasgow").load(archive(tmp_path / "G"))
    assert sorted(set(rs.subjects)) == [
        "1 December 2017 Dataset/P01", "1 December 2017 Dataset/P02", "2 March/P01",
        "2 March/P02"]
    assert {r.meta["campaign"] for r in rs.recordings} == {"1 December 2017 Dataset", "2 March"}
    with pytest.raises(DataError, match="Glasgow radar data not found"):
        get_source("glasgow").load(tmp_path / "nothing")


# ------------------------------------------------------------------ fuzzing

def _case(draw, text):
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in text)


@st.composite
def glasgow_names(draw):
    k = draw(st.one_of(st.none(), st.integers(1, 6)))
    person, code, rep = draw(st.integers(1, 99)), draw(st.integers(1, 6)), draw(st.integers(1, 9))
    width = draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))  # P1 / P01, R1 / R01
    parts = ["" if k is None else str(k), _case(draw, "p") + f"{person:0{width[0]}d}",
             _case(draw, "a") + f"{code:02d}", _case(draw, "r") + f"{rep:0{width[1]}d}"]
    blanks = [draw(st.sampled_from(["", "", " "])) for _ in parts]
    name = "".join(b + p for b, p in zip(blanks, parts, strict=True)).strip()
    return name + draw(st.sampled_from([".dat", ".DAT", ""])), (k, person, code, rep)


@settings(max_examples=200, deadline=None)
@given(glasgow_names())
def test_fuzz_names_in_every_spelling(case):
    name, (k, person, code, rep) = case
    g = glasgow.parse_name(name)
    assert (g.person, g.activity_code, g.repetition) == (f"P{person:02d}", f"A{code:02d}", rep)
    label = k if k is not None else code
    assert g.activity == list(glasgow.ACTIVITIES.values())[label - 1]
    assert g.agree == (label == code)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789PpAaRr .dtxi_-", max_size=20))
def test_fuzz_any_name_is_parsed_or_one_dataerror(name):
    try:
        g = glasgow.parse_name(name)
    except DataError as exc:
        assert str(exc).startswith(f"{name}: ")
        return
    assert re.fullmatch(r"P\d{2,}", g.person) and g.activity_code in glasgow.ACTIVITIES
    assert g.prefix == "" or 1 <= int(g.prefix) <= 6


_NUM = st.floats(-1e5, 1e5, allow_nan=False).filter(lambda x: x == 0 or abs(x) > 1e-3)


@st.composite
def sample_line(draw):
    re_, im = draw(_NUM), draw(_NUM)
    fmt = draw(st.sampled_from(["{:.6g}", "{:.4e}", "{:.3f}", "{:.0f}", "{:.8G}"]))
    a, b = fmt.format(re_), fmt.format(abs(im))
    unit = draw(st.sampled_from(["i", "j"]))
    sign = "-" if im < 0 else "+"
    pad = draw(st.sampled_from(["", " ", "\t"]))
    line = f"{pad}{a}{pad}{sign}{pad}{b}{unit}{pad}"
    return line, complex(float(a), float(sign + b))


@settings(max_examples=60, deadline=None)
@given(st.lists(sample_line(), min_size=4, max_size=40).filter(lambda v: len(v) % 2 == 0),
       st.sampled_from(["\n", "\r\n"]))
def test_fuzz_dat_sample_lines_parse_to_their_values(lines, newline):
    text = newline.join(["5.8e9", "1", "2", "4e8", *(s for s, _ in lines)]) + newline
    raw = glasgow.parse_dat(text, "f/1P01A01R1.dat")
    want = np.array([v for _, v in lines], dtype=np.complex64)
    assert raw.data.shape == (len(lines) // 2, 2)
    assert np.allclose(raw.data.ravel(), want, rtol=1e-6, atol=1e-6)


def test_processing_options_go_over_the_glasgow_defaults(tmp_path, monkeypatch, capsys):
    from harlab.errors import ConfigError

    cfg = glasgow_processing({"range_energy_db": 6})
    assert (cfg.range_select, cfg.range_energy_db, cfg.range_max_m) == ("energy", 6, 15.0)
    with pytest.raises(ConfigError, match="must be a mapping"):
        glasgow_processing([1])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="range_select must be one of fixed, energy"):
        glasgow_processing({"range_select": "peak"})
    with pytest.raises(ConfigError, match="range_energy_db must be a positive number"):
        glasgow_processing({"range_energy_db": 0})
    dat = write_dat(tmp_path / "1P01A01R1.dat", beat_samples(n_chirps=1800, r0=3.0))
    (tmp_path / "p.yaml").write_text("range_select: fixed\nrange_min_m: 2.0\nrange_max_m: 4.0\n")
    code, _ = run_main(monkeypatch, capsys, "radar", "process", str(dat), "--out",
                       str(tmp_path / "s.png"), "--processing", str(tmp_path / "p.yaml"))
    assert code == 0 and (tmp_path / "s_range_time.png").is_file()

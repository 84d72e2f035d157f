"""University of Glasgow radar ``.dat`` reader: fixtures in the real format + real name list."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.errors import DataError
from harlab.paths import shared_data_dir
from harlab.radar import glasgow
from harlab.radar.processing import ProcessingConfig, process
from harlab.radar.types import SPEED_OF_LIGHT

SHARED = shared_data_dir()
GLA = SHARED / "samples" / "glasgow_radar" if SHARED else None
needs_inventory = pytest.mark.skipif(
    GLA is None or not (GLA / "inventory.csv").is_file(), reason="shared Glasgow inventory absent"
)
HEADER = ["5800000000", "1", "128", "400000000"]


def matlab_lines(z: np.ndarray) -> list[str]:
    """Complex samples as MATLAB writes them: ``a+bi`` / ``a-bi``."""
    return [f"{c.real:.8g}{c.imag:+.8g}i" for c in z]


def write_dat(path, samples, header=HEADER, newline="\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(newline.join([*header, *matlab_lines(samples)]) + newline)
    return path


def beat_samples(n_chirps=400, nts=128, r0=3.0, v=1.0, prf=1000.0):
    """FMCW beat of a target at r0 approaching at v (5.8 GHz, 400 MHz, 1 ms chirps)."""
    t_slow = np.arange(n_chirps) / prf
    t_fast = np.arange(nts) * 1e-3 / nts
    tau = 2 * (r0 - v * t_slow)[:, None] / SPEED_OF_LIGHT
    z = np.exp(2j * np.pi * (5.8e9 * tau + 400e6 / 1e-3 * tau * t_fast[None, :]))
    return (1e-3 * z).ravel()


def test_reads_fixture_exactly(tmp_path):
    z = beat_samples()
    p = write_dat(tmp_path / "4 July 2018 Dataset" / "1P36A01R01.dat", z, newline="\r\n")
    raw = glasgow.read_dat(p)
    assert raw.data.shape == (400, 128) and raw.data.dtype == np.complex64
    assert np.allclose(raw.data.ravel(), z, rtol=1e-6, atol=1e-12)  # chirp-major
    prm = raw.params
    assert (prm.carrier_hz, prm.bandwidth_hz, prm.prf_hz) == (5.8e9, 4e8, 1000.0)
    assert prm.waveform == "fmcw" and prm.samples_per_sweep == 128 and prm.sweep_s == 1e-3
    assert raw.activity == "walking" and raw.person == "P36"
    assert raw.meta["repetition"] == 1 and raw.meta["location"] == "4 July 2018 Dataset"
    # the chain puts the approaching target at +1 m/s
    spec = process(raw, ProcessingConfig(range_min_m=1.0, range_max_m=8.0, transient_s=0.1))
    assert float(spec.velocity_ms[np.argmax(spec.magnitude.mean(1))]) == pytest.approx(1.0, abs=0.1)


def test_number_formats_and_blanks(tmp_path):
    body = ["1", "-2.5e-3+4E-2i", "+.5-1.i", "3i", "  7 - 2i ", "1e+2+1e-2j"]
    p = tmp_path / "P01A02R3.dat"
    p.write_text("\n".join(["5.8e9", "1", "2", "4e8", *body]) + "\n\n")
    raw = glasgow.read_dat(p)
    want = [1, -2.5e-3 + 4e-2j, 0.5 - 1j, 3j, 7 - 2j, 100 + 0.01j]
    assert np.allclose(raw.data.ravel(), want)
    assert raw.activity == "sitting" and raw.meta["prefix"] == ""


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([], "empty file"),
        (["5800000000", "1", "128"], "line 4 should hold the bandwidth"),
        (["5800000000", "1ms", "128", "4e8", "1+1i"], "line 2 should hold the sweep time"),
        (
            ["5800000000", "1", "12.5", "4e8", "1+1i"],
            "line 3: samples per sweep must be an integer",
        ),
        (["5800000000", "1", "2", "4e8"], "no samples"),
        (["5800000000", "1", "2", "4e8", "1+1i", "2-2i", "abc", "1"], "line 7: 'abc'"),
        (["5800000000", "1", "2", "4e8", "1+1i", "", "2", "3"], "line 6: an empty line"),
        (["5800000000", "1", "2", "4e8", "1+1i", "1+1i 2", "2", "3"], "line 6: '1\\+1i 2'"),
        (["5800000000", "1", "2", "4e8", "1+1i", "2", "3"], "1 trailing samples"),
        (["5800000000", "1", "2", "4e8", "1+1i", "2", "nan", "3"], "line 7"),
        (["1", "5800000000", "2", "4e8", "1+1i", "2", "2", "3"], "does not look like"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, lines, match):
    p = tmp_path / "1P01A01R1.dat"
    p.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(DataError, match=match) as exc:
        glasgow.read_dat(p)
    assert str(p) in str(exc.value)


def test_binary_and_missing_files(tmp_path):
    p = tmp_path / "P01A01R1.dat"
    p.write_bytes(b"\x89\xff\x00\x01")
    with pytest.raises(DataError, match="not an ASCII"):
        glasgow.read_dat(p)
    with pytest.raises(DataError, match="cannot read"):
        glasgow.read_dat(tmp_path / "nope.dat")
    with pytest.raises(DataError, match="folder not found"):
        glasgow.find_dat_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .dat files"):
        glasgow.find_dat_files(tmp_path / "empty")


def test_iter_dir_and_name_errors(tmp_path):
    write_dat(tmp_path / "a" / "2P05A02R2.dat", beat_samples(n_chirps=4))
    write_dat(tmp_path / "b" / "6P70A06R3.dat", beat_samples(n_chirps=4))
    raws = list(glasgow.iter_dir(tmp_path))
    assert [(r.activity, r.person, r.meta["repetition"]) for r in raws] == [
        ("sitting", "P05", 2),
        ("falling", "P70", 3),
    ]
    write_dat(tmp_path / "c" / "walk_01.dat", beat_samples(n_chirps=4))
    with pytest.raises(DataError, match="does not follow the Glasgow pattern"):
        list(glasgow.iter_dir(tmp_path))
    with pytest.raises(DataError, match="unknown activity code A07"):
        glasgow.parse_name("1P01A07R1.dat")


@needs_inventory
def test_parser_accepts_every_real_file_name():
    """Every file of the real dataset's inventory parses; the label is K (the data sheet's
    rule), which the inventory's own label column (from Ayy) contradicts for 3 files."""
    labels = json.loads((GLA / "label.json").read_text())
    names = [labels[str(i)] for i in range(len(labels))]
    # label.json is 0-based in activity-code order: A01 -> "0" ... A06 -> "5"
    assert [glasgow.ACTIVITIES[f"A{i + 1:02d}"] for i in range(6)] == names
    assert (
        glasgow.ACTIVITIES["A04"] == "picking_up_item" and glasgow.ACTIVITIES["A05"] == "drinking"
    )
    with (GLA / "inventory.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 1700
    disagree = []
    for row in rows:
        parsed = glasgow.parse_name(row["file"] + ".dat")
        assert parsed.person == row["person_id"]
        assert parsed.activity_code == row["activity"]
        assert parsed.activity == names[int(row["file"][0]) - 1]  # K
        assert parsed.agree == (parsed.activity == row["label"])
        assert parsed.repetition == int(row["reps"][1:])
        if not parsed.agree:
            disagree.append(row["file"])
    assert sorted(disagree) == ["2P34A03R1", "3P03A02R1", "6P01A05R03"]
    # sample counts in the inventory are whole sweeps of 128 samples at 1 kHz
    for row in rows:
        n = int(row["complex_cnt"])
        assert n % 128 == 0 and n / 128 / 1000 == pytest.approx(float(row["duration"]))


# ------------------------------------------------------------------ fuzzing

_VALID = "\n".join(HEADER[:2] + ["4", HEADER[3]] + matlab_lines(beat_samples(3, 4).ravel()))


@st.composite
def mangled(draw):
    lines = _VALID.split("\n")
    kind = draw(st.sampled_from(["truncate", "reorder", "garbage", "width", "delete"]))
    if kind == "truncate":
        text = _VALID[: draw(st.integers(0, len(_VALID) - 1))]
    elif kind == "reorder":
        text = "\n".join(draw(st.permutations(lines)))
    elif kind == "garbage":
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.text(max_size=12))
        text = "\n".join(lines)
    elif kind == "width":
        lines[2] = str(draw(st.integers(-3, 40)))
        text = "\n".join(lines)
    else:
        i = draw(st.integers(0, len(lines) - 1))
        text = "\n".join(lines[:i] + lines[i + 1 :])
    return text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_fuzz_only_dataerror(text):
    try:
        raw = glasgow.parse_dat(text, "fuzz/1P01A01R1.dat")
    except DataError as exc:
        assert "fuzz/1P01A01R1.dat" in str(exc)
        return
    # whatever parses is internally consistent
    assert raw.data.shape[1] == raw.params.samples_per_sweep
    assert raw.data.shape[0] >= 2 and np.all(np.isfinite(raw.data))


def test_cli_radar_process(tmp_path):
    from typer.testing import CliRunner

    from harlab.cli.main import app

    dat = write_dat(
        tmp_path / "1P07A01R1.dat",
        beat_samples(n_chirps=1800, nts=32, r0=3.0),
        header=["5800000000", "1", "32", "400000000"],
    )
    out = tmp_path / "spec.png"
    res = CliRunner().invoke(
        app, ["radar", "process", str(dat), "--out", str(out), "--frames", str(tmp_path / "f.npy")]
    )
    assert res.exit_code == 0, res.output
    assert out.is_file() and (tmp_path / "spec_range_time.png").is_file()
    assert np.load(tmp_path / "f.npy").shape == (1, 100, 150)
    again = CliRunner().invoke(app, ["radar", "process", str(dat), "--out", str(out)])
    assert isinstance(again.exception, DataError) and "exists" in str(again.exception)

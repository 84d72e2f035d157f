"""``benchmarks/data_scale.py --source``: preparing a named dataset in a fresh process
reports its windows and peak RSS (five USC-HAD subjects from the shared data)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harlab.paths import shared_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import data_scale  # noqa: E402

SHARED = shared_data_dir()


@pytest.mark.realdata
@pytest.mark.skipif(SHARED is None or not (SHARED / "usc_had").is_dir(),
                    reason="shared USC-HAD data are absent")
def test_source_prepares_usc_had_and_reports_peak_rss(capsys) -> None:
    out = data_scale.main(["--source", "usc_had", "--options", '{"subjects": [1, 2, 3, 4, 5]}'])
    assert out["source"] == "usc_had" and out["cache"] is True
    assert out["options"] == {"subjects": [1, 2, 3, 4, 5]} and out["samples"] > 100_000
    assert sum(out["windows"].values()) > 0 and out["windows"]["test"] > 0
    assert out["peak_rss_prepare_mb"] >= out["peak_rss_before_prepare_mb"] > 0
    assert '"peak_rss_prepare_mb"' in capsys.readouterr().out

"""The one citation place: harlab.papers, used by every report and by the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harlab.errors import ConfigError
from harlab.experiments.mranet_paper import PAPER_SOURCE
from harlab.experiments.paper_numbers import DANHAR_SOURCE
from harlab.papers import DANHAR, MRANET, cite, paper

ROOT = Path(__file__).resolve().parents[2]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_citations_name_title_journal_year_and_doi() -> None:
    assert cite("danhar") == DANHAR.cite() and paper("mranet") is MRANET
    for p, doi in ((DANHAR, "10.1016/j.asoc.2021.107728"), (MRANET, "10.3390/rs11212584")):
        text = p.cite()
        assert p.title in text and p.journal in text and str(p.year) in text
        assert f"doi:{doi}" in text and p.url == f"https://doi.org/{doi}"
    assert MRANET.short_cite() == "MRA-Net (He et al., Remote Sensing 2019)"
    with pytest.raises(ConfigError, match="unknown paper 'mra'"):
        paper("mra")


def test_reports_and_readme_cite_from_the_one_place() -> None:
    assert (DANHAR.cite(), MRANET.cite()) == (DANHAR_SOURCE, PAPER_SOURCE)
    readme = _flat((ROOT / "README.md").read_text())
    assert DANHAR.cite() in readme and MRANET.cite() in readme
    # the authors and titles that used to be wrong appear nowhere
    for where in [ROOT / "README.md", *(ROOT / "src").rglob("*.py"),
                  *(ROOT / "configs").rglob("*.yaml")]:
        text = _flat(where.read_text())
        assert "Zhang, Chen, Zhou" not in text and "Lai et al" not in text, where
        assert "Teng, Tang" not in text, where

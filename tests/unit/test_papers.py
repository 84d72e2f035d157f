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


def test_mranet_baselines_say_what_was_verified() -> None:
    """The report cites MRA-Net's [9] and [32] from harlab.papers; the fidelity page says
    the same: [9] with its DOI, [32] unverified."""
    from harlab.papers import MRANET_BASELINES

    page = _flat((ROOT / "docs" / "fidelity" / "mranet.md").read_text())
    cae, jmi = MRANET_BASELINES["[9]"], MRANET_BASELINES["[32]"]
    assert (cae.model, jmi.model) == ("CAE", "JMI-CNN")
    assert "doi:10.1109/TAES.2018.2799758" in cae.citation
    assert "doi:10.1109/TAES.2018.2799758" in page and "**[9], verified**" in page
    assert "title, authors, venue and year not found" in jmi.unverified
    assert "**[32], unverified**" in page and "Its title, authors, venue and year were not" in page

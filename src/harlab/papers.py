"""The two papers harlab implements, cited once: every report, summary and README line uses
:func:`cite` (or an entry's fields) instead of spelling a citation out again.

Title, journal, volume, article number, year and DOI are those printed on the papers'
first pages (DanHAR: Applied Soft Computing, also arXiv:2006.14435; MRA-Net: Remote
Sensing, MDPI). The fidelity pages ``docs/fidelity/danhar.md`` and
``docs/fidelity/mranet.md`` compare each paper with harlab, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

from harlab.errors import unknown_name


@dataclass(frozen=True)
class Paper:
    """One published paper: enough to cite it and to find it by its DOI."""

    key: str
    short: str  # the method's name, as the paper spells it
    title: str
    authors: tuple[str, ...]
    journal: str
    volume: str
    article: str
    year: int
    doi: str
    arxiv: str = ""

    def cite(self) -> str:
        """One-line citation: authors, title, journal volume (year) article, DOI."""
        names = ", ".join(self.authors)
        arxiv = f"; arXiv:{self.arxiv}" if self.arxiv else ""
        return (f"{names}. {self.title}. {self.journal} {self.volume} ({self.year}) "
                f"{self.article}. doi:{self.doi}{arxiv}")

    def short_cite(self) -> str:
        """``DanHAR (Gao et al., Applied Soft Computing 2021)``: for titles and table notes."""
        first = self.authors[0].split()[-1]
        return f"{self.short} ({first} et al., {self.journal} {self.year})"

    @property
    def url(self) -> str:
        return f"https://doi.org/{self.doi}"


DANHAR = Paper(
    key="danhar",
    short="DanHAR",
    title=("DanHAR: Dual Attention Network for multimodal human activity recognition using "
           "wearable sensors"),
    authors=("Wenbin Gao", "Lei Zhang", "Qi Teng", "Jun He", "Hao Wu"),
    journal="Applied Soft Computing",
    volume="111",
    article="107728",
    year=2021,
    doi="10.1016/j.asoc.2021.107728",
    arxiv="2006.14435",
)
MRANET = Paper(
    key="mranet",
    short="MRA-Net",
    title=("A Mutiscale Residual Attention Network for Multitask Learning of Human Activity "
           "Using Radar Micro-Doppler Signatures"),  # "Mutiscale" is the published spelling
    authors=("Yuan He", "Xinyu Li", "Xiaojun Jing"),
    journal="Remote Sensing",
    volume="11(21)",
    article="2584",
    year=2019,
    doi="10.3390/rs11212584",
)
PAPERS: dict[str, Paper] = {p.key: p for p in (DANHAR, MRANET)}


@dataclass(frozen=True)
class Reference:
    """A paper that MRA-Net compares with, cited only as far as harlab could check it."""

    number: str  # MRA-Net's reference number, "[9]"
    model: str  # the model of that paper MRA-Net compares with
    citation: str  # what was verified, in citation order
    unverified: str  # what could not be checked ("" when nothing)


# MRA-Net's own copy in harlab has no reference list: [9] is tied to its paper by the text
# ("Seyfioglu et al. [9] proposed a deep convolutional autoencoder"), [32] by the name only.
MRANET_BASELINES: dict[str, Reference] = {
    "[9]": Reference(
        "[9]", "CAE",
        "Mehmet Saygin Seyfioglu, Ahmet Murat Ozbayoglu, Sevgi Zubeyde Gurbuz. Deep "
        "convolutional autoencoder for radar-based classification of similar aided and "
        "unaided human activities. IEEE Transactions on Aerospace and Electronic Systems "
        "(2018). doi:10.1109/TAES.2018.2799758",
        "volume 54(4) and page numbers not re-checked; only the abstract and first page "
        "were found, not the layer details"),
    "[32]": Reference(
        "[32]", "JMI-CNN",
        "joint motion classification (MCL) and person identification (PID) CNN \"JMI-CNN\"; "
        "mono-static UWB radar, 15 people x 6 motions (abstract found without its title)",
        "title, authors, venue and year not found; tied to MRA-Net's [32] by the name "
        "JMI-CNN only"),
}


def paper(key: str) -> Paper:
    """The paper registered as ``key`` ("danhar" or "mranet"); ConfigError otherwise."""
    if key not in PAPERS:
        raise unknown_name("paper", key, PAPERS)
    return PAPERS[key]


def cite(key: str) -> str:
    """The one-line citation of the paper ``key``."""
    return paper(key).cite()

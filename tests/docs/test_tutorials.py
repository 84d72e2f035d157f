"""Every command of the tutorials runs, so the docs cannot rot.

The ```bash blocks of each tutorial page run in order, in bash (``-euo pipefail``), in a
fresh folder that links the checkout's ``configs/``, with ``harlab`` and ``python`` meaning
this checkout. The commands the reader sees are the real ones; a page names in an HTML
comment the tiny-size options that the tests append (``tiny train: --epochs 1 ...``), and
a command whose page needs data a user brings (Glasgow radar files) gets a small fixture
in the real file format.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
PAGES = ["wearable-hapt", "own-data", "multitask", "radar-simulated", "radar-real",
         "deployment"]
# a page that continues from another page's folder (the run it trained)
AFTER = {"deployment": "wearable-hapt"}
BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.S | re.M)
TINY = re.compile(r"^tiny ([a-z][a-z -]*): (.+)$", re.M)


def blocks(page: str) -> list[str]:
    return BLOCK.findall((TUTORIALS / f"{page}.md").read_text())


def tiny_options(page: str) -> dict[str, str]:
    text = (TUTORIALS / f"{page}.md").read_text()
    comments = "\n".join(re.findall(r"<!--(.*?)-->", text, re.S))
    return {sub.strip(): opts.strip() for sub, opts in TINY.findall(comments)}


def logical_lines(block: str) -> list[str]:
    return block.replace("\\\n", " ").splitlines()


def command_of(line: str, subs: dict[str, str]) -> str | None:
    """The tiny-option key (e.g. ``train``) of a line that runs ``harlab <key>``."""
    for sub in sorted(subs, key=len, reverse=True):
        if re.search(rf"(^|[|;&(]\s*)harlab {re.escape(sub)}\b", line):
            return sub
    return None


def with_tiny(line: str, subs: dict[str, str]) -> str:
    """The line with its command's tiny options appended (before a ``  # comment``)."""
    sub = command_of(line, subs)
    if sub is None:
        return line
    code, sep, comment = line.partition("  #")
    return f"{code.rstrip()} {subs[sub]}" + (f"  #{comment}" if sep else "")


def script(page: str) -> str:
    subs = tiny_options(page)
    lines = [with_tiny(line, subs) for b in blocks(page) for line in logical_lines(b)]
    head = [f'harlab() {{ "{sys.executable}" -m harlab.cli.main "$@"; }}',
            f'python() {{ "{sys.executable}" "$@"; }}']
    return "\n".join(head + lines) + "\n"


def test_every_page_shows_harlab_commands_and_every_tiny_option_is_used() -> None:
    assert sorted(PAGES) == sorted(p.stem for p in TUTORIALS.glob("*.md"))
    for page in PAGES:
        lines = [line for b in blocks(page) for line in logical_lines(b)]
        assert any(re.search(r"\bharlab [a-z]", line) for line in lines), page
        subs = tiny_options(page)
        used = {command_of(line, subs) for line in lines}
        assert set(subs) <= used, (page, set(subs) - used)


def test_tiny_options_go_before_a_comment() -> None:
    subs = {"train": "--epochs 1", "simulate radar": "--quick"}
    assert with_tiny("harlab train c.yaml  # go", subs) == "harlab train c.yaml --epochs 1  # go"
    assert with_tiny("x | harlab simulate radar --out d", subs).endswith("--out d --quick")
    assert with_tiny("harlab evaluate r", subs) == "harlab evaluate r"
    assert with_tiny("echo harlab train", subs) == "echo harlab train"


def write_glasgow_fixture(folder: Path, reps: int = 8) -> None:
    """Glasgow ``.dat`` files in the real format (header + MATLAB complex text) and the
    archive's layout: a campaign folder of ``KPxxAyyRz.dat`` files, 2 persons x 2
    activities x ``reps`` repetitions of 1.8 s of an FMCW beat of one moving point target,
    and a second campaign holding a byte-identical copy of one of them."""
    prf, nts, n = 1000.0, 128, 1800
    t_slow, t_fast = np.arange(n) / prf, np.arange(nts) * 1e-3 / nts
    campaign = folder / "1 December 2017 Dataset"
    campaign.mkdir(parents=True)
    for p, person in enumerate(("P01", "P02")):
        for a, activity in enumerate(("A01", "A02")):
            for rep in range(1, reps + 1):
                v = (1.0 + 0.3 * a) * (1 + 0.1 * p) * (1 + 0.02 * rep) * np.cos(6 * t_slow)
                r = 3.0 - np.cumsum(v) / prf
                tau = 2 * r[:, None] / 299_792_458.0
                z = 1e-3 * np.exp(2j * np.pi * (5.8e9 * tau + 4e11 * tau * t_fast[None, :]))
                z = z.ravel()
                body = "\n".join(f"{c.real:.6g}{c.imag:+.6g}i" for c in z)
                text = "5800000000\n1\n128\n400000000\n" + body + "\n"
                (campaign / f"{a + 1}{person}{activity}R{rep:02d}.dat").write_text(text)
    copy = folder / "2 March 2017 Dataset" / "1P07A01R1.dat"
    copy.parent.mkdir()
    shutil.copy(campaign / "1P01A01R01.dat", copy)


def serve_glasgow_archive(cwd: Path) -> dict[str, str]:
    """The fixture as ``Dataset_848.7z`` on a local HTTP server; the environment that
    points ``harlab data download`` at it."""
    import py7zr

    src, served = cwd.parent / f"{cwd.name}-src", cwd.parent / f"{cwd.name}-served"
    write_glasgow_fixture(src)
    served.mkdir()
    stored = [{"id": py7zr.FILTER_COPY}]  # no compression: LZMA on ~170 MB takes minutes
    with py7zr.SevenZipFile(served / "Dataset_848.7z", "w", filters=stored) as z:
        for f in sorted(src.rglob("*.dat")):
            z.write(f, f.relative_to(src).as_posix())
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return {"HARLAB_DOWNLOAD_BASE_URL": f"http://127.0.0.1:{httpd.server_address[1]}"}


# what a page needs before its commands run; returns environment variables to add
SETUP = {"radar-real": serve_glasgow_archive}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    env = dict(os.environ)
    env["HARLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    env["PYTHONPATH"] = str(ROOT / "src")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HARLAB_RUN_DIR", None)
    return {"env": env, "factory": tmp_path_factory, "done": {}}


def run_page(page: str, folders: dict[str, object]) -> subprocess.CompletedProcess:
    done: dict = folders["done"]  # type: ignore[assignment]
    if page in done:
        return done[page]
    env = dict(folders["env"])  # type: ignore[call-overload]
    if page in AFTER:
        cwd = run_page(AFTER[page], folders).args[-1]
        cwd = Path(cwd).parent
    else:
        cwd = folders["factory"].mktemp(page)  # type: ignore[attr-defined]
        (cwd / "configs").symlink_to(ROOT / "configs")
        env.update(SETUP[page](cwd) if page in SETUP else {})
    path = cwd / f"{page}.sh"
    path.write_text(script(page))
    proc = subprocess.run(["bash", "-euo", "pipefail", str(path)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{page}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    done[page] = proc
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_tutorial_commands_run(page: str, folders: dict[str, object]) -> None:
    proc = run_page(page, folders)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]

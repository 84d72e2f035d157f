"""Every command of the tutorials runs, so the docs cannot rot.

The ```bash blocks of each tutorial page run in order, in bash (``-euo pipefail``), in a
fresh folder that links the checkout's ``configs/``, with ``harlab`` and ``python`` meaning
this checkout. The commands the reader sees are the real ones; a page names in an HTML
comment the tiny-size options that the tests append (``tiny train: --epochs 1 ...``), and
a command whose page needs data a user brings (Glasgow radar files) gets a small fixture
in the real file format. ``harlab`` and ``python`` are forked from one interpreter that has
imported torch, Lightning and harlab once (``cli_server.py``), so each command costs its
work, not 2-5 s of imports; each still runs in its own process on the script's stdio.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
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


SERVER = Path(__file__).with_name("cli_server.py")


def script(page: str, sock: Path) -> str:
    subs = tiny_options(page)
    lines = [with_tiny(line, subs) for b in blocks(page) for line in logical_lines(b)]
    client = f'"{sys.executable}" -S "{SERVER}"'
    head = [f'harlab() {{ {client} harlab "{sock}" "$@"; }}',
            f'python() {{ {client} python "{sock}" "$@"; }}']
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
                body = "\n".join(map("{:.6g}{:+.6g}i".format, z.real.tolist(), z.imag.tolist()))
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
def folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    env = dict(os.environ)
    env["HARLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    env["PYTHONPATH"] = str(ROOT / "src")
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = "1"  # tiny models: a second thread only spins on a shared CPU
    env.pop("HARLAB_RUN_DIR", None)
    sock = tmp_path_factory.mktemp("cli") / "cli.sock"
    server = subprocess.Popen([sys.executable, str(SERVER), "serve", str(sock)], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield {"env": env, "factory": tmp_path_factory, "done": {}, "sock": sock}
    finally:  # the server and any command it forked share its new process group
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        server.stdout.close()  # type: ignore[union-attr]


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
    path.write_text(script(page, folders["sock"]))  # type: ignore[arg-type]
    proc = run_script(path, folders, env)
    assert proc.returncode == 0, f"{page}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    done[page] = proc
    return proc


def run_script(path: Path, folders: dict[str, object], env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess:
    """Run a page's script; ``env``: the folders' environment plus what the page's setup
    added (the CLI server's children take the environment each command sends)."""
    return subprocess.run(["bash", "-euo", "pipefail", str(path)], cwd=path.parent,
                          env=env or folders["env"], stdin=subprocess.DEVNULL,  # type: ignore[arg-type]
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(("line", "code"), [
    ("harlab train does-not-exist.yaml", 2),
    ("harlab no-such-command", 2),
    ("python -c 'import sys; sys.exit(3)'", 3),
    ("python - <<'PY'\nraise ValueError('broken snippet')\nPY", 1),
])
def test_a_failing_command_stops_the_page(line: str, code: int,
                                          folders: dict[str, object]) -> None:
    """The forked commands report their exit status, so a broken page fails its test."""
    path = folders["factory"].mktemp("broken") / "broken.sh"  # type: ignore[attr-defined]
    head = script("wearable-hapt", folders["sock"]).split("\n")[:2]  # type: ignore[arg-type]
    path.write_text("\n".join([*head, "echo before", line, "echo after"]) + "\n")
    proc = run_script(path, folders)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.split() == ["before"]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_tutorial_commands_run(page: str, folders: dict[str, object]) -> None:
    proc = run_page(page, folders)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]

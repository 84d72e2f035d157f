"""``harlab data download|info``: fetch a dataset's official archive, describe a dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from harlab.cli.common import NoProgress

app = typer.Typer(no_args_is_help=True, help="Download and describe datasets.")
console = Console()
err_console = Console(stderr=True)


MaxSize = Annotated[
    str | None,
    typer.Option(help="most bytes extraction may write, e.g. 80G (default: "
                 "$HARLAB_MAX_EXTRACT_SIZE, else 50G)"),
]
MaxRatio = Annotated[
    float | None,
    typer.Option(help="most bytes extraction may write per byte of the archive (default: "
                 "$HARLAB_MAX_EXTRACT_RATIO, else 100)"),
]
MaxMembers = Annotated[
    int | None,
    typer.Option(help="most members (files and folders) extraction may write (default: "
                 "$HARLAB_MAX_EXTRACT_MEMBERS, else 1000000)"),
]


@app.command()
def download(
    name: Annotated[str, typer.Argument(help="dataset name (harlab datasets)")],
    dest: Annotated[
        Path | None,
        typer.Option(help="dataset folder (default: $HARLAB_SHARED_DATA/NAME or cache)"),
    ] = None,
    url: Annotated[str | None, typer.Option(help="download from this URL (a mirror)")] = None,
    sha256: Annotated[str | None, typer.Option(help="expected sha256 of the archive")] = None,
    md5: Annotated[str | None, typer.Option(help="expected md5 (if that is what is given)")] = None,
    force: Annotated[
        bool, typer.Option(help="replace an earlier harlab download in DEST (nothing else)")
    ] = False,
    keep_archive: Annotated[bool, typer.Option(help="keep the archive beside DEST")] = False,
    retries: Annotated[int, typer.Option(help="resume attempts after a dropped connection")] = 3,
    max_extract_size: MaxSize = None,
    max_extract_ratio: MaxRatio = None,
    max_extract_members: MaxMembers = None,
    no_progress: NoProgress = False,
) -> None:
    """Download, verify (sha256/md5) and extract a dataset's official archive (resumable).

    DEST must not exist, or be an earlier harlab download (reused; replaced with --force).
    """
    from harlab.data.download import Limits, download_dataset
    from harlab.data.sources import get_source
    from harlab.errors import ConfigError, HarlabError

    if retries < 0:
        raise ConfigError(f"--retries must be a number of attempts >= 0, got {retries}")
    limits = Limits.resolve(max_extract_size, max_extract_ratio, max_extract_members)
    res = download_dataset(
        name,
        dest,
        url=url,
        sha256=sha256,
        md5=md5,
        force=force,
        keep_archive=keep_archive,
        retries=retries,
        limits=limits,
        progress=not no_progress and sys.stderr.isatty(),
        log=lambda m: err_console.print(m, highlight=False),
    )
    for w in res.warnings:
        err_console.print(f"[bold yellow]WARNING[/bold yellow] {w}", highlight=False)
    if res.already_present:
        console.print(f"{name}: already downloaded in {res.dest} (sha256 {res.sha256})")
    else:
        console.print(f"{name}: {res.size:,} bytes, sha256 {res.sha256}, extracted to {res.dest}")
    try:
        root = get_source(name).fingerprint(None).get("root")
    except HarlabError:
        root = None
    dest = res.dest.resolve()
    if root is None or not (Path(root).resolve() == dest or dest in Path(root).resolve().parents):
        console.print(f"use it with: harlab train --dataset {name} --path '{res.dest}'")
    then = get_source(name).info.get("after_download")
    if then:
        console.print("then: " + then.format(dest=res.dest))


def _local(
    name: str, path: str | None
) -> tuple[str | None, str | None, str | None, int | None, int | None]:
    """(where the data are, the path= that finds them, None, input files, their bytes) or
    (None, None, why not, None, None)."""
    from harlab.data.download import read_marker
    from harlab.data.sources import get_source
    from harlab.errors import HarlabError
    from harlab.paths import default_dest

    src = get_source(name)
    tries: list[str | None] = [path] if path is not None else [None]
    if path is None and read_marker(default_dest(name)) is not None:
        tries.append(str(default_dest(name)))
    why = None
    for p in tries:
        try:
            fp = src.fingerprint(p)
        except HarlabError as exc:
            why = str(exc)
            continue
        files = fp.get("files") or [{}]
        where = fp.get("root") or files[0].get("name") or p or "(found)"
        sizes = [f["size"] for f in fp.get("files") or [] if isinstance(f.get("size"), int)]
        return str(where), p, None, len(sizes), sum(sizes)
    return None, None, why, None, None


def _counts(name: str, path: str | None) -> dict[str, Any]:
    """Counts computed from the local data (loads it)."""
    import numpy as np

    from harlab.data.sources import get_source

    rs = get_source(name).load(path)
    labels = np.concatenate([r.labels for r in rs.recordings])
    present = sorted(int(c) for c in np.unique(labels) if c >= 0)
    return {
        "recordings": len(rs.recordings),
        "subjects": len(rs.subjects),
        "sessions": len({(r.subject, r.session) for r in rs.recordings}),
        "samples": int(sum(r.n_samples for r in rs.recordings)),
        "classes_present": {str(c): rs.classes.get(c, str(c)) for c in present},
        "channels": list(rs.channels),
        "rates": sorted(rs.rates),
        "official_split": bool(rs.official_split or rs.info.get("official_split_recordings")),
        "dropped": dict(rs.dropped),
    }


def describe(name: str, path: str | None = None, count: bool = True) -> dict[str, Any]:
    """Everything ``harlab data info`` shows, as a JSON-ready dict."""
    from harlab.data.sources import get_source

    src = get_source(name)
    info = src.info
    channels = info.get("channels")
    doc = {
        "subjects": info.get("subjects"),
        "classes": info.get("classes"),
        "class_ids": {str(k): v for k, v in (info.get("class_ids") or {}).items()} or None,
        "channels": list(channels) if isinstance(channels, tuple | list) else channels,
        "rate": info.get("rate"),
        "size": info.get("size"),
    }
    if info.get("subjects_note"):
        doc["subjects_note"] = info["subjects_note"]
    where, used, why, n_files, n_bytes = _local(name, path)
    out: dict[str, Any] = {
        "name": name,
        "summary": info.get("summary") or src.summary,
        "documented": doc,
        "citation": info.get("citation", ""),
        "licence": info.get("licence", ""),
        "download": info.get("download"),
        "obtain": info.get("obtain"),
        "local": {"present": where is not None, "where": where, "reason": why,
                  "input_files": n_files, "input_bytes": n_bytes},
        "counts": None,
    }
    if where is not None and count:
        out["counts"] = _counts(name, used)
    return out


@app.command()
def info(
    name: Annotated[str, typer.Argument(help="dataset name (harlab datasets)")],
    path: Annotated[str | None, typer.Option(help="dataset location, if not the default")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    count: Annotated[
        bool, typer.Option(help="load local data to count recordings/subjects/classes")
    ] = True,
) -> None:
    """Describe a dataset: documented facts, licence, URL, and what is on this machine."""
    from harlab.cli.common import in_cli_words

    d = describe(name, path, count)
    if as_json:
        sys.stdout.write(json.dumps(d, indent=2, default=str) + "\n")
        return
    t = Table(title=f"dataset {name}", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value", overflow="fold")
    doc = d["documented"]
    chans = doc["channels"]
    t.add_row("summary", d["summary"])
    t.add_row(
        "subjects",
        str(doc["subjects"]) + (f" ({doc['subjects_note']})" if doc.get("subjects_note") else ""),
    )
    classes = doc["class_ids"]
    t.add_row("classes", str(doc["classes"]) + (f": {classes}" if classes else ""))
    t.add_row(
        "channels",
        f"{len(chans)}: {', '.join(map(str, chans))}" if isinstance(chans, list) else str(chans),
    )
    t.add_row("rate (Hz)", str(doc["rate"]))
    if doc.get("size"):
        t.add_row("size", str(doc["size"]))
    t.add_row("citation", d["citation"])
    t.add_row("licence", d["licence"])
    dl = d["download"]
    if dl:
        sha = dl.get("sha256") or "not published (printed on download)"
        t.add_row("archive", f"{dl['url']} (sha256: {sha})")
        if dl.get("page"):
            t.add_row("page", dl["page"])
    else:
        t.add_row("archive", f"none: {d['obtain'] or 'see the documentation'}")
    loc = d["local"]
    t.add_row(
        "here",
        f"[green]present[/green] in {loc['where']}"
        + (f" ({loc['input_files']} input files, {loc['input_bytes'] / 1e6:,.1f} MB)"
           if loc.get("input_files") else "")
        if loc["present"]
        else f"[red]not found[/red]: {in_cli_words(loc['reason'])}",
    )
    c = d["counts"]
    if c:
        t.add_row(
            "local counts",
            f"{c['recordings']} recordings, {c['subjects']} subjects, {c['sessions']} "
            f"subject-sessions, {c['samples']:,} samples, {len(c['classes_present'])} classes "
            f"present, {len(c['channels'])} channels, rate {c['rates']} Hz"
            + (f", dropped {c['dropped']}" if c["dropped"] else ""),
        )
    console.print(t)

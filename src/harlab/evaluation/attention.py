"""DanHAR attention: export, mapping back to input samples, localisation scores, plots.

**Temporal attention over the input.** Block ``b`` of DanHAR turns a ``(T_{b-1}, S)`` map
into ``(T_b, S)`` with conv1 (kernel ``k``, stride ``s``, padding ``p``) followed by a
stride-1 'same' 3-tap conv, so output step ``t`` of block ``b`` is centred on input sample
``c_b(t) = a_b * t + d_b`` with ``a_b = s**b`` and
``d_b = d_{b-1} + a_{b-1} * ((k - 1) / 2 - p)`` (``a_0 = 1``, ``d_0 = 0``); its receptive
field spans ``r_b = r_{b-1} + (k - 1) * a_{b-1} + 2 * a_b`` input samples. The map of each
block is averaged over the sensor axis and linearly interpolated from these centres onto
every input sample (held constant before the first / after the last centre).

**Per-sensor weights (paper Fig. 12).** DanHAR's channel attention weighs *feature maps*
(the C filters shared by all sensors), not sensor channels: the sensor axis S is a spatial
axis, and the temporal attention map is ``(T_b, S)``. The weight of a sensor channel is
therefore the temporal map averaged over time; the feature-channel weights are exported
too (class x feature channel per block).

**Localisation** (the paper shows pictures only; here it is measured) against the true
target segments of weakly-labelled windows (:mod:`harlab.data.sources.weak`): per window
the fraction of attention mass inside the segments (chance = the segments' share of the
window, which is what a flat map gives), pointing accuracy (is the arg-max inside a
segment; chance is the same share) and the AUROC of attention vs the segment mask
(Mann-Whitney with average ranks, chance 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import rankdata

from harlab.errors import CheckpointError, ConfigError
from harlab.evaluation.metrics import mean_std
from harlab.fileio import save_png, write_json


def block_geometry(
    n_blocks: int, kernel_size: int, stride: int, padding: int
) -> list[dict[str, float]]:
    """Per block: input-sample centre of output step t is ``scale * t + offset``; rf width."""
    a, d, r, out = 1.0, 0.0, 1.0, []
    for _ in range(n_blocks):
        d = d + a * ((kernel_size - 1) / 2 - padding)
        r = r + (kernel_size - 1) * a
        a = a * stride
        r = r + 2 * a
        out.append({"scale": a, "offset": d, "receptive_field": r})
    return out


def upsample(att: np.ndarray, scale: float, offset: float, length: int) -> np.ndarray:
    """Attention ``(N, T')`` at centres ``scale*t + offset`` -> ``(N, length)`` (linear)."""
    pos = (np.arange(length, dtype=np.float64) - offset) / scale
    pos = np.clip(pos, 0, att.shape[1] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, att.shape[1] - 1)
    frac = (pos - lo).astype(np.float32)
    return att[:, lo] * (1 - frac) + att[:, hi] * frac


def segment_mask(
    window: np.ndarray, starts: np.ndarray, ends: np.ndarray, n: int, length: int
) -> np.ndarray:
    """Boolean ``(n, length)`` mask, True inside ``[starts, ends)`` of window ``window``."""
    s = np.clip(starts, 0, length)
    e = np.clip(ends, 0, length)
    keep = e > s
    edges = np.zeros((n, length + 1), np.int32)
    np.add.at(edges, (window[keep], s[keep]), 1)
    np.add.at(edges, (window[keep], e[keep]), -1)
    return np.cumsum(edges[:, :-1], axis=1) > 0


def localisation_scores(att: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window scores of attention ``(N, T)`` (>= 0) against a boolean mask ``(N, T)``.

    ``mass``: attention mass inside the mask; ``chance``: the mask's share of the window;
    ``pointing``: 1 if the arg-max lies inside; ``auroc``: ranks of attention separating
    inside from outside (NaN for a window whose mask is empty or full).
    """
    if att.shape != mask.shape:
        raise ValueError(f"attention {att.shape} and mask {mask.shape} differ")
    att = att.astype(np.float64)
    m = mask.astype(bool)
    total = att.sum(1)
    mass = np.where(total > 0, (att * m).sum(1) / np.where(total > 0, total, 1), np.nan)
    chance = m.mean(1)
    pointing = m[np.arange(att.shape[0]), att.argmax(1)].astype(np.float64)
    n_pos = m.sum(1).astype(np.float64)
    n_neg = m.shape[1] - n_pos
    ranks = rankdata(att, axis=1) if att.size else att
    u = (ranks * m).sum(1) - n_pos * (n_pos + 1) / 2
    ok = (n_pos > 0) & (n_neg > 0)
    auroc = np.where(ok, u / np.where(ok, n_pos * n_neg, 1), np.nan)
    return {"mass": mass, "chance": chance, "pointing": pointing, "auroc": auroc}


def _stat(v: np.ndarray) -> dict[str, float | int | None]:
    return mean_std(v) or {"mean": None, "std": None, "n": 0}


def summarize_localisation(
    scores: dict[str, np.ndarray], y: np.ndarray, class_names: Sequence[str],
    correct: np.ndarray | None = None,
) -> dict[str, Any]:
    """Mean ± std of every score, overall and per class (and over correct windows)."""
    def block(sel: np.ndarray) -> dict[str, Any]:
        return {k: _stat(v[sel]) for k, v in scores.items()}

    out: dict[str, Any] = {"overall": block(np.ones(y.size, bool)), "per_class": {}}
    for i, name in enumerate(class_names):
        if (y == i).any():
            out["per_class"][name] = block(y == i)
    if correct is not None:
        out["correct_only"] = block(correct)
    return out


def run_attention(module: Any, x: np.ndarray, batch_size: int = 64) -> dict[str, Any]:
    """Forward ``x`` through a DanHAR classifier, keeping its attention maps (fp32).

    Returns ``probs`` (N, K) and per block ``temporal`` (N, T_b, S) / ``channel`` (N, C_b)
    lists (None where the arrangement lacks that attention).
    """
    import torch

    model = getattr(module, "model", module)
    if not hasattr(model, "keep_attention") or not hasattr(model, "blocks"):
        raise ConfigError(f"model {type(model).__name__} has no attention maps (DanHAR only)")
    model.keep_attention = True
    probs, temporal, channel = [], [], []
    try:
        module.eval()
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], np.float32))
                probs.append(torch.softmax(module(xb).float(), 1).numpy())
                maps = model.attention_maps
                temporal.append([m["temporal"].float().numpy() if "temporal" in m else None
                                 for m in maps])
                channel.append([m["channel"].float().numpy() if "channel" in m else None
                                for m in maps])
    finally:
        model.keep_attention = False
    n_blocks = len(model.blocks)

    def cat(parts: list[list[np.ndarray | None]], b: int) -> np.ndarray | None:
        if not parts or parts[0][b] is None:
            return None
        return np.concatenate([p[b] for p in parts])

    return {
        "probs": np.concatenate(probs) if probs else np.zeros((0, 0), np.float32),
        "temporal": [cat(temporal, b) for b in range(n_blocks)],
        "channel": [cat(channel, b) for b in range(n_blocks)],
    }


def _model_geometry(n_blocks: int, options: dict[str, Any]) -> list[dict[str, float]]:
    """:func:`block_geometry` of a DanHAR model from its options (model defaults if unset)."""
    return block_geometry(n_blocks, int(options.get("kernel_size", 6)),
                          int(options.get("stride", 2)), int(options.get("padding", 0)))


def input_attention(
    temporal: list[np.ndarray | None], options: dict[str, Any], length: int
) -> np.ndarray | None:
    """Temporal attention mapped onto input samples: ``(N, n_blocks, T)`` or None."""
    if any(t is None for t in temporal):
        return None
    geo = _model_geometry(len(temporal), options)
    ups = [upsample(t.mean(2), g["scale"], g["offset"], length)
           for t, g in zip(temporal, geo, strict=True)]
    return np.stack(ups, axis=1).astype(np.float32)


def class_means(values: np.ndarray, y: np.ndarray, k: int, sel: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (N, ...) per class over the selected windows (NaN if none)."""
    out = np.full((k, *values.shape[1:]), np.nan, np.float32)
    onehot = np.zeros((values.shape[0], k), np.float32)
    onehot[sel, y[sel]] = 1.0
    counts = onehot.sum(0)
    sums = np.tensordot(onehot, values.astype(np.float32), axes=(0, 0))
    ok = counts > 0
    out[ok] = sums[ok] / counts[ok].reshape(-1, *([1] * (values.ndim - 1)))
    return out


def plot_temporal_examples(
    path: Path, x: np.ndarray, att: np.ndarray, titles: Sequence[str], channels: Sequence[str],
    rate: float, masks: np.ndarray | None = None,
) -> Path:
    """Paper Fig. 10: each window's signal with its temporal attention as a heat strip."""
    return save_png(temporal_examples_figure(x, att, titles, channels, rate, masks), path)


def temporal_examples_figure(
    x: np.ndarray, att: np.ndarray, titles: Sequence[str], channels: Sequence[str],
    rate: float, masks: np.ndarray | None = None,
) -> Figure:
    """The figure of :func:`plot_temporal_examples`: one (signal, strip) pair per window, the
    pairs far enough apart that a window's title clears the strip of the window above."""
    n = x.shape[0]
    fig = Figure(figsize=(11, 2.6 * n))
    outer = fig.add_gridspec(n, 1, hspace=0.45)
    t = np.arange(x.shape[1]) / rate
    for i in range(n):
        pair = outer[i].subgridspec(2, 1, height_ratios=[4, 1], hspace=0.08)
        ax = fig.add_subplot(pair[0])
        for c in range(x.shape[2]):
            ax.plot(t, x[i, :, c], lw=0.6, label=channels[c])
        if masks is not None:
            inside = masks[i].astype(float)
            ax.fill_between(t, 0, 1, where=inside > 0, color="tab:red", alpha=0.12,
                            transform=ax.get_xaxis_transform(), label="true segment")
        ax.set_xlim(t[0], t[-1])
        ax.set_title(titles[i], fontsize=9)
        ax.tick_params(labelbottom=False, labelsize=7)
        if i == 0:
            ax.legend(fontsize=6, ncol=min(8, x.shape[2] + 1), loc="upper right")
        strip = fig.add_subplot(pair[1], sharex=ax)
        strip.imshow(att[i][None, :], aspect="auto", cmap="inferno",
                     extent=(t[0], t[-1], 0, 1), vmin=0, vmax=1)
        strip.set_yticks([])
        strip.tick_params(labelsize=7, labelbottom=i == n - 1)
    fig.supxlabel("time (s)", fontsize=8)
    return fig


def plot_heatmaps(
    path: Path, maps: Sequence[np.ndarray], titles: Sequence[str], rows: Sequence[str],
    cols: Sequence[str] | None, xlabel: str,
) -> Path:
    """Paper Fig. 12: one class x channel heat map per block."""
    width = min(4 + 0.35 * maps[0].shape[1], 18) if cols else 12
    height = len(maps) * (1.2 + 0.3 * len(rows) + (0.6 if cols else 0))
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(len(maps), 1, squeeze=False)[:, 0]
    for ax, m, title in zip(axes, maps, titles, strict=True):
        im = ax.imshow(m, aspect="auto", cmap="viridis")
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        if cols is not None:
            ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.025)
    return save_png(fig, path)


def plot_localisation(path: Path, summary: dict[str, Any], title: str) -> Path:
    """Per class: attention mass inside the segments and pointing accuracy vs chance."""
    names = list(summary["per_class"]) + ["overall"]
    rows = [summary["per_class"][n] for n in names[:-1]] + [summary["overall"]]
    fig = Figure(figsize=(max(6, 1.4 * len(names)), 3.6))
    ax = fig.add_subplot()
    xs = np.arange(len(names))
    w = 0.2
    for j, (key, label) in enumerate((("mass", "attention mass inside"), ("chance", "chance"),
                                      ("pointing", "pointing accuracy"), ("auroc", "AUROC"))):
        mean = [r[key]["mean"] if r[key]["mean"] is not None else np.nan for r in rows]
        std = [r[key]["std"] if r[key]["std"] is not None else 0 for r in rows]
        ax.bar(xs + (j - 1.5) * w, mean, w, yerr=std, capsize=2, label=label)
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.set_xticks(xs, names, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return save_png(fig, path)


def localisation_markdown(summary: dict[str, Any], title: str) -> str:
    def cell(s: dict[str, Any]) -> str:
        return "–" if s["mean"] is None else f"{s['mean']:.3f} ± {s['std']:.3f}"

    lines = [f"## {title}", "",
             "| class | windows | attention mass inside | chance (segment share) | "
             "pointing accuracy | AUROC |", "|---|---|---|---|---|---|"]
    items = [*summary["per_class"].items(), ("**overall**", summary["overall"])]
    if "correct_only" in summary:
        items.append(("correctly classified", summary["correct_only"]))
    for name, s in items:
        lines.append(f"| {name} | {s['mass']['n']} | {cell(s['mass'])} | {cell(s['chance'])} | "
                     f"{cell(s['pointing'])} | {cell(s['auroc'])} |")
    return "\n".join(lines) + "\n"


def _new_out_dir(run: Path, part: str, out: Path | None) -> Path:
    if out is not None:
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"{out} exists and is not empty; choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        return out
    for i in range(1, 1000):
        p = run / f"attention-{part}-{i}"
        try:
            p.mkdir()
            return p
        except FileExistsError:
            continue
    raise ConfigError(f"{run}: too many attention-{part}-* folders")


def weak_segments(data: Any, part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Window index, start, end (window-relative samples) of the true segments of ``part``.

    None when the run's recordings carry no ``weak_segments`` (not a weak-source run).
    """
    recs = data.windowed.recordings
    if not any("weak_segments" in r.meta for r in recs):
        return None
    per_rec = [np.asarray(r.meta.get("weak_segments", []), np.int64).reshape(-1, 2)
               for r in recs]
    counts = np.array([p.shape[0] for p in per_rec])
    segs = np.concatenate(per_rec)
    first = np.cumsum(counts) - counts
    rec = data.recordings(part)
    start = data.starts(part)
    n_seg = counts[rec]
    win = np.repeat(np.arange(rec.size), n_seg)
    idx = np.repeat(first[rec], n_seg) + (np.arange(n_seg.sum()) - np.repeat(
        np.cumsum(n_seg) - n_seg, n_seg))
    return win, segs[idx, 0] - start[win], segs[idx, 1] - start[win]


def _open_danhar_run(run_dir: str | Path, part: str, n_examples: int,
                     allow_unfinished: bool = False) -> tuple[Path, Any, Any, Any, str | None]:
    """Check the export's arguments and open a DanHAR run: (run folder, model spec, trained
    module, prepared data, warning). A model without attention is a ConfigError, data whose
    classes changed since training, or a checkpoint of another run, a CheckpointError; a run
    that is not complete is refused unless ``allow_unfinished`` (then the warning says so)."""
    from harlab.config import from_dict, load_yaml
    from harlab.data.prepare import prepare
    from harlab.runs import best_checkpoint, check_run_dir
    from harlab.tasks.checkpoint import load_run_module

    if part not in ("train", "val", "test"):
        raise ConfigError(f"part must be train, val or test; got {part!r}")
    if n_examples < 1:
        raise ConfigError(f"--n must be >= 1, got {n_examples}")
    run = check_run_dir(run_dir)
    cfg = from_dict(load_yaml(run / "config.yaml"))
    from harlab.models.registry import get_model_spec

    spec = get_model_spec(cfg.model.name)
    if spec.builder != "build_danhar":
        raise ConfigError(f"{run}: model {cfg.model.name!r} has no attention (DanHAR models "
                          "only: danhar, danhar_cnn)")
    module, unfinished = load_run_module(run, best_checkpoint(run), allow_unfinished)
    data = prepare(cfg.data)
    if list(module.hparams["class_names"]) != data.class_names:
        raise CheckpointError(f"{run}: checkpoint classes differ from the data's "
                              f"{data.class_names}; the dataset changed since training")
    return run, spec, module, data, unfinished


@dataclass
class _Export:
    """One attention export in progress: its folder, the part's true and predicted labels,
    and the arrays (attention.npz) and facts (attention.json) collected so far, in the
    order they are written."""

    target: Path
    y: np.ndarray
    pred: np.ndarray
    correct: np.ndarray
    names: list[str]
    chans: list[str]
    arrays: dict[str, np.ndarray]
    info: dict[str, Any]


def _export_sensor_attention(
    exp: _Export, temporal: list[np.ndarray], inp: np.ndarray, combined: np.ndarray,
    opts: dict[str, Any],
) -> None:
    """Block geometry, class means of the input-mapped temporal attention and the
    per-sensor weights per block (paper Fig. 12: sensor_attention.png)."""
    k, names, chans = len(exp.names), exp.names, exp.chans
    exp.info["block_geometry"] = _model_geometry(len(temporal), opts)
    sensor = np.stack([t.mean(1) for t in temporal], 1)  # (N, B, S)
    exp.arrays["temporal_input_mean"] = class_means(combined, exp.y, k, exp.correct)
    exp.arrays["sensor_attention"] = class_means(sensor, exp.y, k, exp.correct).transpose(1, 0, 2)
    exp.info["sensor_attention"] = {
        f"block{b + 1}": {names[c]: dict(zip(chans, exp.arrays["sensor_attention"][b, c]
                                              .tolist(), strict=True)) for c in range(k)}
        for b in range(sensor.shape[1])
    }
    plot_heatmaps(exp.target / "sensor_attention.png",
                  list(exp.arrays["sensor_attention"]),
                  [f"block {b + 1}: temporal attention averaged over time, per sensor "
                   "channel" for b in range(sensor.shape[1])], names, chans,
                  "sensor channel")


def _export_channel_attention(exp: _Export, channel: list[np.ndarray | None]) -> None:
    """Class means of each block's feature-channel attention (channel_attention.png)."""
    k = len(exp.names)
    for b, ch in enumerate(channel):
        if ch is not None:
            exp.arrays[f"channel_block{b + 1}"] = class_means(ch, exp.y, k, exp.correct)
    chan_maps = [exp.arrays[f"channel_block{b + 1}"] for b in range(len(channel))
                 if f"channel_block{b + 1}" in exp.arrays]
    if chan_maps:
        plot_heatmaps(exp.target / "channel_attention.png", chan_maps,
                      [f"block {b + 1}: channel attention per feature channel"
                       for b in range(len(chan_maps))], exp.names, None, "feature channel")


def _example_windows(y: np.ndarray, correct: np.ndarray, n_examples: int) -> np.ndarray:
    """Sorted indices of up to ``n_examples`` windows to draw: one window per class (a
    correctly classified one where there is one), then misclassified ones, then others."""
    order = np.lexsort((~correct, y))
    firsts = order[np.r_[True, y[order][1:] != y[order][:-1]]] if y.size else order
    rest = np.setdiff1d(order, firsts, assume_unique=True)
    ex = np.concatenate([firsts, rest[~correct[rest]], rest[correct[rest]]])[:n_examples]
    return np.sort(ex)


def _export_localisation(
    exp: _Export, inp: np.ndarray, combined: np.ndarray, mask: np.ndarray
) -> dict[str, Any]:
    """Localisation of the blocks-averaged and each block's attention against the true
    segments (localisation.md/.json/.png); returns the summaries."""
    y, names, correct = exp.y, exp.names, exp.correct
    loc = {"combined": summarize_localisation(localisation_scores(combined, mask), y,
                                              names, correct)}
    for b in range(inp.shape[1]):
        loc[f"block{b + 1}"] = summarize_localisation(
            localisation_scores(inp[:, b], mask), y, names, correct)
    text = localisation_markdown(loc["combined"], "Attention localisation (blocks averaged)")
    for b in range(inp.shape[1]):
        text += "\n" + localisation_markdown(loc[f"block{b + 1}"], f"Block {b + 1}")
    (exp.target / "localisation.md").write_text(text)
    write_json(exp.target / "localisation.json", loc)
    plot_localisation(exp.target / "localisation.png", loc["combined"],
                      "temporal attention vs true target segments (mean ± std)")
    return loc


def export_attention(
    run_dir: str | Path, part: str = "test", n_examples: int = 8, out: str | Path | None = None,
    batch_size: int = 64, allow_unfinished: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Export a DanHAR run's attention on one part: npz + JSON + PNGs (+ localisation).
    Only a complete run, unless ``allow_unfinished`` (``info["warnings"]`` then says why)."""
    run, spec, module, data, unfinished = _open_danhar_run(run_dir, part, n_examples,
                                                           allow_unfinished)
    x, y = data.x[part], data.y[part]
    res = run_attention(module, x, batch_size)
    pred = res["probs"].argmax(1)
    correct = pred == y
    names = data.class_names
    chans = list(data.windowed.channels)
    rate, length = float(data.windowed.windows.rate), x.shape[1]
    opts = {**dict(spec.defaults), **dict(module.hparams["model_options"])}
    attention = opts.get("attention", "channel_temporal")
    target = _new_out_dir(run, part, Path(out) if out is not None else None)
    info: dict[str, Any] = {
        "run": str(run), "part": part, "attention": attention, "class_names": names,
        "channels": chans, "rate": rate, "window_length": length, "windows": int(y.size),
        "correct": int(correct.sum()), "accuracy": float(correct.mean()) if y.size else None,
        "class_means_over": "correctly classified windows of each class",
        "warnings": [unfinished] if unfinished else [],
    }
    exp = _Export(target, y, pred, correct, names, chans, {"y_true": y, "y_pred": pred}, info)
    inp = input_attention(res["temporal"], opts, length)
    combined = inp.mean(1) if inp is not None else None
    seg = weak_segments(data, part)
    mask = segment_mask(*seg, y.size, length) if seg is not None else None
    if inp is not None:
        _export_sensor_attention(exp, res["temporal"], inp, combined, opts)
    _export_channel_attention(exp, res["channel"])
    ex = _example_windows(y, correct, n_examples)
    exp.arrays["example_index"] = ex
    raw = x[ex] * data.normalizer.std + data.normalizer.mean  # back to sensor units
    exp.arrays["example_x"] = raw.astype(np.float32)
    if inp is not None:
        exp.arrays["example_temporal_input"] = inp[ex]
        titles = [f"window {i}: true {names[y[i]]}, predicted {names[pred[i]]}" for i in ex]
        plot_temporal_examples(target / "temporal_attention.png", raw, combined[ex],
                               titles, chans, rate, mask[ex] if mask is not None else None)
    if mask is not None:
        exp.arrays["example_segment_mask"] = mask[ex]
        seg_json = [{"window": int(w), "start": int(s), "end": int(e)}
                    for w, s, e in zip(*seg, strict=True)]
        write_json(target / "segments.json", {"part": part, "segments": seg_json})
    if mask is not None and inp is not None:
        info["localisation"] = _export_localisation(exp, inp, combined, mask)
    elif mask is not None:
        info["localisation"] = None
        info["note"] = f"arrangement {attention!r} has no temporal attention to localise"
    np.savez_compressed(target / "attention.npz", **exp.arrays)
    write_json(target / "attention.json", info)
    return target, info

"""The MRA-Net paper's experiments as harlab variants: published numbers, models, needs.

The paper is :data:`harlab.papers.MRANET` (cited from there). Every number transcribed
here is the paper's; nothing here is measured. :data:`SPECS` names each model a
reproduction trains and :func:`variant` turns it into ``--set``-style overrides of an
ordinary run config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harlab.experiments.engine import Variant
from harlab.papers import MRANET

EXPERIMENTS = ("table4", "fig8", "fig9", "fig10", "fig11", "fig12", "table5", "table6")
PROTOCOLS = ("recording", "paper")
PAPER_SOURCE = MRANET.cite()
# Published test F1-scores (%) transcribed from the paper; nothing here is measured.
PAPER_TABLE4 = {"mranet_flwl": (98.29, 95.87), "mranet_activity": (97.61, None),
                "mranet_identity": (None, 91.34)}
PAPER_TABLE5 = {2 / 3: (95.72, 88.97), 3 / 4: (97.28, 91.37), 11 / 14: (98.43, 94.85),
                12 / 13: (96.13, 93.16), 1.0: (97.45, 90.23)}
# (coarse, fine, attention) -> (activity F1 %, identity F1 %, execution time vs row 1)
PAPER_TABLE6 = [
    ((True, False, False), 92.96, 89.75, "2.31 s"),
    ((False, True, False), 94.52, 90.14, "-13.96%"),
    ((True, True, False), 96.83, 91.30, "+89.28%"),
    ((True, False, True), 97.71, 93.89, "+83.03%"),
    ((False, True, True), 98.18, 94.06, "+75.41%"),
    ((True, True, True), 98.29, 95.87, "+136.03%"),
]
PAPER_FIG9 = "walk 96.50 %, box 91.38 % (the other activities are only plotted)"
PAPER_FIG10 = ("identification: MRA-Net ~4 % above the DCNN of [19], ~8 % above the DCNN of [5]; "
               "activity: CAE [9] 95.08 %, MRA-Net ~3.21 % above it, stacked LSTM lowest")
PAPER_FIG11 = ("noise added to the MD signatures: identification F1 > 90 % above 15 dB; "
               "activity F1 > 95 %; similar to JMI-CNN at 5 dB, JMI-CNN slightly better at 0 dB")


@dataclass(frozen=True)
class Spec:
    """One trained model: registry name, options, heads and loss weighting."""

    key: str
    label: str
    model: str
    heads: tuple[str, ...]
    weighting: str = "equal"
    options: tuple[tuple[str, Any], ...] = ()
    ratio: float = 0.75
    flwl_larger: str = "activity"  # the task that gets 2 + max(w) (see tasks.losses.FLWL)
    flwl_input: str = "raw"  # what P_w sees: X_n (Eq. 4) or X_n / ||X_n|| (task.flwl_input)
    paper_model: str = ""  # the paper's model this one plays in Figs. 10/11 (its reference)
    caveat: str = ""  # how it differs from that model (docs/fidelity/mranet.md has the rest)


def _mranet(key: str, label: str, heads: tuple[str, ...], weighting: str = "flwl",
            **opts: Any) -> Spec:
    return Spec(key, label, "mranet", heads, weighting, tuple(sorted(opts.items())))


BOTH = ("activity", "identity")
# CAE [9]: epochs of unsupervised reconstruction before its supervised fit. A reconstruction
# step cost about 2.4 classification steps on 150 x 100 frames (CPU, batch 64), so 5 epochs
# cost about 40 % of the default 30 supervised ones (docs/fidelity/mranet.md)
CAE_PRETRAIN_EPOCHS = 5
_STYLE = "style baseline, the paper gives no layers"
SPECS: dict[str, Spec] = {
    "mranet_flwl": _mranet("mranet_flwl", "MRA-Net multitask (FLWL)", BOTH),
    # Eq. 5 as printed gives activity 2 + max(w); Eq. 6, the Fig. 12b text ("w_r increases
    # from 2.0 to 2.5") and the Table 5 grid (r_w = w_r / w_i <= 1) give it 2 + min(w)
    "mranet_flwl_id": Spec("mranet_flwl_id", "MRA-Net multitask (FLWL, Eq. 6 reading)",
                           "mranet", BOTH, "flwl", flwl_larger="identity"),
    # harlab's variant: P_w sees the unit-norm embedding, so the growing norm of X_n cannot
    # saturate its softmax (see harlab.tasks.multitask)
    "mranet_flwl_id_unit": Spec("mranet_flwl_id_unit",
                                "MRA-Net multitask (FLWL, Eq. 6 reading, unit-norm P_w input)",
                                "mranet", BOTH, "flwl", flwl_larger="identity",
                                flwl_input="unit"),
    "mranet_activity": _mranet("mranet_activity", "MRA-Net activity only", ("activity",),
                               "equal"),
    "mranet_identity": _mranet("mranet_identity", "MRA-Net identity only", ("identity",),
                               "equal"),
    "dcnn3_activity": Spec("dcnn3_activity", "dcnn3 (activity)", "dcnn3", ("activity",),
                           paper_model="DCNN [23]",
                           caveat=_STYLE + " (harlab.models.radar_baselines)"),
    "dcnn5_identity": Spec("dcnn5_identity", "dcnn5 (identity)", "dcnn5", ("identity",),
                           paper_model="DCNNs [5] and [19]",
                           caveat=_STYLE + " (harlab.models.radar_baselines); one model "
                           "for both of the paper's DCNNs"),
    "lstm_activity": Spec("lstm_activity", "stacked LSTM (activity)", "lstm", ("activity",),
                          options=(("dropout", 0.2), ("hidden", 128), ("layers", 2)),
                          paper_model="stacked LSTM [31]",
                          caveat=_STYLE + " (harlab.models.lstm, 2 layers of 128)"),
    # pre-training: a sixth of the default 30 supervised epochs (CAE_PRETRAIN_EPOCHS)
    "cae_activity": Spec("cae_activity", "CAE (activity)", "cae", ("activity",),
                         options=(("pretrain_epochs", CAE_PRETRAIN_EPOCHS),),
                         paper_model="CAE [9]",
                         caveat="encoder, mirrored decoder and classifier built from [9]'s "
                         f"abstract; its unsupervised pre-training is reproduced as "
                         f"{CAE_PRETRAIN_EPOCHS} epochs of reconstruction (MSE) of the "
                         "training frames before the supervised fit, with harlab's layer "
                         "sizes and epoch count ([9]'s not known)"),
    "jmi_cnn_mt_equal": Spec("jmi_cnn_mt_equal", "JMI-CNN (multitask, equal weights)",
                             "jmi_cnn", BOTH, paper_model="JMI-CNN [32]",
                             caveat="trunk built from [32]'s abstract (attention and "
                             "hierarchical feature reuse, layers harlab's); equal loss "
                             "weights, [32]'s own weighting not known"),
}
for _r in PAPER_TABLE5:
    SPECS[f"mranet_fixed_{_r:.4f}"] = Spec(f"mranet_fixed_{_r:.4f}", f"MRA-Net r_w = {_r:.4f}",
                                           "mranet", BOTH, "fixed", ratio=_r)
for _i, ((_c, _f, _a), *_rest) in enumerate(PAPER_TABLE6[:-1], start=1):
    SPECS[f"mranet_abl{_i}"] = _mranet(f"mranet_abl{_i}", f"row ({_i})", BOTH, coarse=_c,
                                       fine=_f, attention=_a)
ABLATION_KEYS = [f"mranet_abl{i}" for i in range(1, 6)] + ["mranet_flwl"]
FLWL_KEYS = ["mranet_flwl", "mranet_flwl_id", "mranet_flwl_id_unit"]
RATIO_KEYS = [f"mranet_fixed_{r:.4f}" for r in PAPER_TABLE5]
NEEDS: dict[str, list[str]] = {
    "table4": ["mranet_flwl", "mranet_activity", "mranet_identity"],
    "fig8": ["mranet_flwl"],
    "fig9": ["mranet_flwl"],
    # Fig. 10a: identification baselines, 10b: activity baselines, each against MRA-Net
    "fig10": ["dcnn5_identity", "dcnn3_activity", "cae_activity", "lstm_activity",
              "mranet_flwl"],
    "fig11": ["mranet_flwl", "jmi_cnn_mt_equal"],
    "fig12": FLWL_KEYS,
    "table5": RATIO_KEYS + FLWL_KEYS,
    "table6": ABLATION_KEYS,
}


def model_options(spec: Spec, channels: list[int]) -> dict[str, Any]:
    """Registry options of ``spec``: MRA-Net gets ``channels`` and the paper's dropout;
    JMI-CNN gets the same ``channels``, so the two multitask trunks of Fig. 11 stay of one
    width whatever ``--channels`` is."""
    opts = dict(spec.options)
    if spec.model in ("mranet", "jmi_cnn"):
        opts = {"channels": list(channels), "dropout": 0.5, **opts}
    return opts


def variant(spec: Spec, channels: list[int]) -> Variant:
    """The overrides that make ``spec`` from a reproduction's base run config."""
    heads = list(spec.heads)
    return Variant(spec.key, (
        f"model.name={spec.model}",
        f"model.options={json.dumps(model_options(spec, channels))}",
        f"task.heads={json.dumps(heads)}",
        f"task.loss_weighting={spec.weighting if len(heads) > 1 else 'equal'}",
        f"task.fixed_ratio={float(spec.ratio)!r}",
        f"task.flwl_larger={spec.flwl_larger}",
        f"task.flwl_input={spec.flwl_input}",
    ))

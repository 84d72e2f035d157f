"""DanHAR (Gao et al. 2021): residual CNN with channel + temporal dual attention.

The paper treats a window (N, T, S) as an N x 1 x T x S image and uses only (k, 1)
kernels, so the sensor axis S never mixes inside a convolution: it is a batch-like axis.
This implementation therefore computes in a channels-last "rows" layout ``(N*S, T, C)``
where every convolution is a plain GEMM over all rows (no 2-D convolution, no layout
reorders): strided convs via a one-copy im2col (conv1 and the shortcut conv share it),
the stride-1 3-tap convs via three shifted in-place GEMMs with no im2col at all.
BatchNorm1d over the rows ``(N*S*T', C)`` equals BatchNorm2d over (N, C, T', S); the
attention pools over the (S, T') positions of each window. Measured on a 2-core AVX-512
CPU this trains about 1.2-1.35x faster than the 2-D layout of
:mod:`harlab.models.reference` (which has identical parameters and outputs) and beats
Conv2d channels_last and folded Conv1d layouts too; see ``benchmarks/throughput.py``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harlab.errors import ConfigError
from harlab.hardware import time_conv_path
from harlab.models.blocks import ChannelAttention, TemporalAttention
from harlab.models.checks import check_channels, check_dropout, check_int

ATTENTIONS: dict[str, tuple[str, ...]] = {
    "channel_temporal": ("channel", "temporal"),
    "temporal_channel": ("temporal", "channel"),
    "channel": ("channel",),
    "temporal": ("temporal",),
    "none": (),
}
BACKBONES = ("resnet", "cnn")
HEADS = ("flatten", "gap")
TEMPORAL_KERNELS = {"7x1": (7, 1), "7x7": (7, 7)}


def attention_order(attention: str) -> tuple[str, ...]:
    """Attention submodules applied to the residual branch, in order."""
    return ATTENTIONS[attention]


def temporal_kernel_size(name: str) -> tuple[int, int]:
    """(kT, kS) kernel of the temporal-attention conv for '7x1' / '7x7'."""
    return TEMPORAL_KERNELS[name]


def _choice(name: str, value: Any, valid: Any) -> None:
    if value not in valid:
        raise ConfigError(
            f"danhar: invalid {name} {value!r}; valid: {', '.join(map(str, valid))}"
        )


def check_danhar_options(
    input_shape: tuple[int, int],
    backbone: str,
    attention: str,
    reduction: int,
    temporal_kernel: str,
    kernel_size: int,
    stride: int,
    padding: int,
    channels: tuple[int, ...],
    head: str,
    dropout: float,
) -> list[int]:
    """Validate DanHAR options (ConfigError if bad); return the time length per block."""
    _choice("backbone", backbone, BACKBONES)
    _choice("attention", attention, ATTENTIONS)
    _choice("temporal_kernel", temporal_kernel, TEMPORAL_KERNELS)
    _choice("head", head, HEADS)
    for name, value, low in (
        ("reduction", reduction, 1), ("kernel_size", kernel_size, 1),
        ("stride", stride, 1), ("padding", padding, 0),
    ):
        check_int("danhar", name, value, low)
    if padding >= kernel_size:
        raise ConfigError(f"danhar: padding {padding} must be smaller than kernel_size")
    chans = check_channels("danhar", channels)
    check_dropout("danhar", dropout)
    lengths, t = [], input_shape[0]
    for _ in chans:
        t = (t + 2 * padding - kernel_size) // stride + 1
        lengths.append(t)
    if lengths[-1] < 1:
        need = 1
        for _ in chans:  # invert the length recursion from the last block back to the input
            need = max(1, (need - 1) * stride + kernel_size - 2 * padding)
        raise ConfigError(
            f"danhar: window length {input_shape[0]} is too short for {len(chans)} blocks "
            f"with kernel_size {kernel_size}, stride {stride}, padding {padding}; "
            f"the minimum is {need}"
        )
    return lengths


def _no_autocast(t: Tensor) -> Any:
    """Context without autocast for ``t``'s device: our GEMMs get their dtypes by hand."""
    return torch.autocast(t.device.type, enabled=False)


def _autocast_args(x: Tensor, *ts: Tensor) -> tuple[Tensor, ...]:
    """Autocast's cast, done by hand: everything to the autocast dtype when it is on."""
    if torch.is_autocast_enabled(x.device.type):
        dt = torch.get_autocast_dtype(x.device.type)
        return tuple(t.to(dt) for t in (x, *ts))
    return (x, *ts)


def _taps(t: int, tp: int, k: int, stride: int, pad: int) -> list[tuple[int, int, int, int]]:
    """Per kernel tap j: output steps [lo, hi) read input steps src, src+stride, ..."""
    out = []
    for j in range(k):
        lo = max(0, -((j - pad) // stride))
        hi = max(lo, min(tp, (t - 1 - j + pad) // stride + 1))
        out.append((j, lo, hi, lo * stride + j - pad))
    return out


class _Im2colConvFn(torch.autograd.Function):
    """Conv along time of rows ``(B, T, Cin)`` as im2col + GEMM, for one or more weights.

    Channels last, the k * Cin inputs of one output step are contiguous, so im2col is one
    strided copy. Several convs with the same input and geometry (conv1 and the shortcut)
    share it. Backward: two GEMMs per weight plus k strided adds (col2im).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, stride: int, pad: int, *wb: Tensor) -> tuple[Tensor, ...]:
        x = x.contiguous()
        bsz, t, cin = x.shape
        k = wb[0].shape[0] // cin
        tp = (t + 2 * pad - k) // stride + 1
        if pad:  # write the zero-padded im2col matrix directly, tap by tap
            cols = x.new_empty(bsz, tp, k, cin)
            for j, lo, hi, src in _taps(t, tp, k, stride, pad):
                cols[:, :lo, j] = 0
                cols[:, hi:, j] = 0
                cols[:, lo:hi, j] = x[:, src : src + (hi - lo - 1) * stride + 1 : stride]
            cols = cols.view(bsz * tp, k * cin)
        else:
            cols = x.as_strided((bsz, tp, k * cin), (t * cin, stride * cin, 1))
            cols = cols.reshape(bsz * tp, k * cin)
        ws = wb[0::2]
        ctx.save_for_backward(cols, *ws)
        ctx.geom = (bsz, t, cin, tp, k, stride, pad)
        bs = wb[1::2]
        return tuple(torch.addmm(b, cols, w).view(bsz, tp, -1) for w, b in zip(ws, bs, strict=True))

    @staticmethod
    def backward(ctx: Any, *gys: Tensor) -> tuple[Tensor | None, ...]:
        with _no_autocast(gys[0]):
            return _Im2colConvFn._backward(ctx, *gys)

    @staticmethod
    def _backward(ctx: Any, *gys: Tensor) -> tuple[Tensor | None, ...]:
        cols, *ws = ctx.saved_tensors
        bsz, t, cin, tp, k, stride, pad = ctx.geom
        grads: list[Tensor | None] = [None, None, None]
        gcols = None
        for w, gy in zip(ws, gys, strict=True):
            gy = gy.reshape(bsz * tp, -1).to(cols.dtype)
            grads += [torch.mm(cols.t(), gy), gy.sum(dim=0)]
            if ctx.needs_input_grad[0]:
                gcols = torch.mm(gy, w.t()) if gcols is None else gcols.addmm_(gy, w.t())
        if gcols is not None:
            gc = gcols.view(bsz, tp, k, cin)
            gx = gc.new_zeros(bsz, t, cin)
            for j, lo, hi, src in _taps(t, tp, k, stride, pad):
                gx[:, src : src + (hi - lo - 1) * stride + 1 : stride] += gc[:, lo:hi, j]
            grads[0] = gx
        return tuple(grads)


class _SameConvFn(torch.autograd.Function):
    """Stride-1 'same' conv (odd k, T > k // 2) of rows ``(B, T, Cin)`` without im2col.

    All rows form one long sequence; tap j adds ``x[r + j - p] @ w[j]`` to output row r by
    an in-place GEMM on shifted row views. That is wrong only for the first/last p steps
    of each window, which are recomputed exactly (tiny GEMMs); the weight gradient has
    the few cross-window pairs subtracted.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        x = x.contiguous()  # w: (k, Cin, Cout)
        bsz, t, cin = x.shape
        k, p = w.shape[0], w.shape[0] // 2
        xm = x.reshape(bsz * t, cin)
        y = torch.addmm(b, xm, w[p])
        for j in range(k):
            d = j - p
            if d > 0:
                y[:-d].addmm_(xm[d:], w[j])
            elif d < 0:
                y[-d:].addmm_(xm[:d], w[j])
        y = y.view(bsz, t, -1)
        for s in _edges(t, p):  # exact recompute of the window-boundary steps
            y[:, s] = b
            for j in range(k):
                if 0 <= s + j - p < t:
                    y[:, s].addmm_(x[:, s + j - p], w[j])
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:
        with _no_autocast(gy):
            return _SameConvFn._backward(ctx, gy)

    @staticmethod
    def _backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, w = ctx.saved_tensors
        bsz, t, cin = x.shape
        k, p = w.shape[0], w.shape[0] // 2
        gy = gy.contiguous().to(x.dtype)
        xm, gm = x.view(bsz * t, cin), gy.view(bsz * t, -1)
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.mm(gm, w[p].t())
            for j in range(k):
                d = j - p
                if d > 0:
                    gx[d:].addmm_(gm[:-d], w[j].t())
                elif d < 0:
                    gx[:d].addmm_(gm[-d:], w[j].t())
            gx = gx.view(bsz, t, cin)
            for s in _edges(t, p):
                gx[:, s] = 0
                for j in range(k):
                    if 0 <= s - j + p < t:
                        gx[:, s].addmm_(gy[:, s - j + p], w[j].t())
        if ctx.needs_input_grad[1]:
            gw = torch.empty_like(w)
            for j in range(k):
                d = j - p
                if d == 0:
                    torch.mm(xm.t(), gm, out=gw[j])
                elif d > 0:  # drop pairs (last d steps of window i, first d of window i+1)
                    torch.mm(xm[d:].t(), gm[:-d], out=gw[j])
                    gw[j].sub_(_pairs(x[1:, :d], gy[:-1, t - d :]))
                else:
                    torch.mm(xm[:d].t(), gm[-d:], out=gw[j])
                    gw[j].sub_(_pairs(x[:-1, t + d :], gy[1:, :-d]))
        gb = gm.sum(dim=0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def _edges(t: int, p: int) -> list[int]:
    return sorted(set(range(min(p, t))) | set(range(max(t - p, 0), t)))


def _pairs(a: Tensor, g: Tensor) -> Tensor:
    return torch.mm(a.reshape(-1, a.shape[-1]).t(), g.reshape(-1, g.shape[-1]))


class TimeConv(nn.Module):
    """Conv along time of channels-last rows ``(B, T, Cin)`` -> ``(B, T', Cout)``.

    ``weight`` is stored as (k, Cin, Cout) -- the im2col GEMM layout, so no per-call
    re-layout -- and initialised like ``nn.Conv1d`` (uniform, bound 1/sqrt(Cin * k)).
    """

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        time_conv_path()  # a bad $HARLAB_TIME_CONV fails here, as a config error
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        bound = (cin * kernel_size) ** -0.5
        self.weight = nn.Parameter(torch.empty(kernel_size, cin, cout).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(cout).uniform_(-bound, bound))

    def forward(self, x: Tensor, windows: int = 0) -> Tensor:
        """``windows``: the rows are that many windows' rows, all of one length (0: not
        known); only the oneDNN path uses it, as the image batch (see
        :func:`onednn_time_conv`)."""
        k, p = self.kernel_size, self.padding
        if _use_onednn(x, self):
            return onednn_time_conv(x, self.weight, self.bias, self.stride, p, windows)
        if self.stride == 1 and 2 * p == k - 1 and x.shape[1] > p:
            args = _autocast_args(x, self.weight, self.bias)
            with _no_autocast(x):
                return _SameConvFn.apply(*args)
        return time_convs(x, [self])[0]

    def extra_repr(self) -> str:
        k, cin, cout = self.weight.shape
        return f"{cin}, {cout}, kernel_size={k}, stride={self.stride}, padding={self.padding}"


def _use_onednn(x: Tensor, conv: TimeConv) -> bool:
    """Whether ``conv`` runs on the oneDNN path for rows ``x``: the CPU's choice, and under
    bf16 the output length's (:func:`harlab.hardware.time_conv_path`)."""
    if x.device.type != "cpu":
        return False
    steps = (x.shape[1] + 2 * conv.padding - conv.kernel_size) // conv.stride + 1
    bf16 = x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                         and torch.get_autocast_dtype("cpu") == torch.bfloat16)
    return time_conv_path(steps, conv.stride, bf16) == "onednn"


def onednn_time_conv(x: Tensor, weight: Tensor, bias: Tensor, stride: int,
                     padding: int, windows: int = 0) -> Tensor:
    """The conv of :class:`TimeConv` as one oneDNN ``conv2d`` on the rows' own memory.

    Rows ``(B, T, Cin)`` of ``windows`` windows (S = B / windows rows each) are a
    channels-last ``(windows, Cin, S, T)`` image, so with a (1, k) kernel the input needs
    no copy and the channels-last output is again rows ``(B, T', Cout)``; the weight view
    (Cout, Cin, 1, k) is re-laid out by oneDNN (small). ``windows`` 0 makes each row its
    own image; at 113 channels (OPPORTUNITY) one image per window ran up to 1.66x faster
    per layer, forward + backward, and level elsewhere (docs/performance.md).
    """
    b, t, cin = x.shape
    g = windows if windows and b % windows == 0 else b
    x4 = x.view(g, b // g, t, cin).permute(0, 3, 1, 2)
    w4 = weight.permute(2, 1, 0).unsqueeze(2)
    y = F.conv2d(x4, w4, bias, stride=(1, stride), padding=(0, padding))
    return y.permute(0, 2, 3, 1).reshape(b, y.shape[-1], -1)  # a view unless oneDNN chose NCHW


def time_convs(x: Tensor, convs: list[TimeConv], windows: int = 0) -> tuple[Tensor, ...]:
    """Apply several TimeConvs of equal geometry to rows ``x`` of ``windows`` windows (on
    the GEMM path sharing one im2col)."""
    if _use_onednn(x, convs[0]):
        return tuple(conv(x, windows) for conv in convs)
    wb = []
    for conv in convs:
        wb += [conv.weight.flatten(0, 1), conv.bias]
    x, *wb = _autocast_args(x, *wb)
    with _no_autocast(x):
        return _Im2colConvFn.apply(x, convs[0].stride, convs[0].padding, *wb)


class _MulRecomputed(torch.autograd.Function):
    """``y * b`` where ``y = z * a`` is recomputed for backward instead of kept.

    ``y`` (both attentions' middle product, as large as the block's activations) is then
    freed after the forward; ``z`` and ``a`` are kept by the ``z * a`` node anyway.
    """

    @staticmethod
    def forward(ctx: Any, y: Tensor, b: Tensor, z: Tensor, a: Tensor) -> Tensor:
        ctx.save_for_backward(b, z, a)
        return y * b

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        b, z, a = ctx.saved_tensors
        gb = None
        if ctx.needs_input_grad[1]:
            gb = (z * a).mul_(g).sum_to_size(b.shape)
        return g * b, gb, None, None


class DanHARBlock(nn.Module):
    """conv(k)/s -> BN -> ReLU -> conv(3) -> BN -> attention [+ shortcut conv/BN] -> ReLU."""

    def __init__(
        self, cin: int, cout: int, kernel_size: int, stride: int, padding: int,
        residual: bool, attention: str, reduction: int, temporal_kernel: tuple[int, int],
    ) -> None:
        super().__init__()
        self.conv1 = TimeConv(cin, cout, kernel_size, stride, padding)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = TimeConv(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm1d(cout)
        self.order = attention_order(attention)
        self.ca = ChannelAttention(cout, reduction) if "channel" in self.order else None
        self.ta = TemporalAttention(temporal_kernel) if "temporal" in self.order else None
        self.shortcut = TimeConv(cin, cout, kernel_size, stride, padding) if residual else None
        self.bn_sc = nn.BatchNorm1d(cout) if residual else None

    def attend(
        self, z: Tensor, n: int, t: int, maps: list[dict[str, Tensor]] | None
    ) -> Tensor:
        """Apply the attention(s) in order to BN output rows ``z`` ``(N*S*T', C)`` of ``n``
        windows; the result is ``(N, S, T', C)`` (``z`` itself without attention). The
        weights are appended to ``maps`` (if given) as one dict per block."""
        c = z.shape[-1]
        weights: dict[str, Tensor] = {}
        first: tuple[Tensor, Tensor] | None = None  # the first attention's input and weights
        for kind in self.order:
            z4 = z.view(n, -1, t, c)
            w = weights[kind] = (self.ca(z4.view(n, -1, c))[:, None, None, :]
                                 if kind == "channel" else self.ta(z4)[..., None])
            if first is None or not torch.is_grad_enabled():
                z, first = z4 * w, (z4, w)
            else:  # the middle product z4 is recomputed, not kept, for backward
                z = _MulRecomputed.apply(z4, w, *first)
        if maps is not None:
            maps.append({kind: (w[:, 0, 0] if kind == "channel" else w[..., 0].transpose(1, 2))
                         .detach() for kind, w in weights.items()})  # temporal: (N, T', S)
        return z

    def forward(self, x: Tensor, n: int, maps: list[dict[str, Tensor]] | None = None) -> Tensor:
        """``x``: rows ``(N*S, T, Cin)`` of ``n`` windows -> ``(N*S, T', C)``."""
        convs = [self.conv1] if self.shortcut is None else [self.conv1, self.shortcut]
        ys = time_convs(x, convs, n)  # conv1 and shortcut share one im2col
        b, t, c = ys[0].shape
        r = self.bn1(ys[0].view(b * t, c)).relu_().view(b, t, c)  # BN backward keeps no output
        z = self.attend(self.bn2(self.conv2(r, n).view(b * t, c)), n, t, maps)
        # z is a fresh, non-view tensor that no backward needs: update it in place (an
        # in-place op on a view would make autograd copy the whole tensor)
        if self.bn_sc is not None:
            z.add_(self.bn_sc(ys[1].view(b * t, c)).view(z.shape))
        return z.relu_().view(b, t, c)


class DanHAR(nn.Module):
    """DanHAR / ResNet / CNN of the paper on windows ``(N, T, S)`` -> logits.

    Set ``keep_attention = True`` to record, on each forward, ``attention_maps``: one dict
    per block with detached ``"channel"`` ``(N, C)`` and ``"temporal"`` ``(N, T', S)``
    weights (keys for the attention kinds the model uses).
    """

    def __init__(
        self, input_shape: tuple[int, int], num_classes: int, backbone: str = "resnet",
        attention: str = "channel_temporal", reduction: int = 16, temporal_kernel: str = "7x1",
        kernel_size: int = 6, stride: int = 2, padding: int = 0,
        channels: tuple[int, ...] = (128, 256, 384), head: str = "flatten",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        lengths = check_danhar_options(
            input_shape, backbone, attention, reduction, temporal_kernel, kernel_size,
            stride, padding, tuple(channels), head, dropout,
        )
        self.input_shape = tuple(input_shape)
        self.sensors = input_shape[1]
        tk = temporal_kernel_size(temporal_kernel)
        blocks, cin = [], 1
        for c in channels:
            blocks.append(DanHARBlock(cin, c, kernel_size, stride, padding,
                                      backbone == "resnet", attention, reduction, tk))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.feature_shape = (cin, lengths[-1], self.sensors)  # (C, T', S) before the head
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin * lengths[-1] * self.sensors if head == "flatten" else cin,
                            num_classes)
        self.keep_attention = False
        self.attention_maps: list[dict[str, Tensor]] = []

    def forward(self, x: Tensor) -> Tensor:
        n, t, s = x.shape
        if s != self.sensors or (self.head == "flatten" and t != self.input_shape[0]):
            raise ValueError(f"DanHAR built for windows {self.input_shape}, got {(t, s)}")
        h = x.transpose(1, 2).reshape(n * s, t, 1)  # one row per (window, sensor)
        maps: list[dict[str, Tensor]] | None = [] if self.keep_attention else None
        for block in self.blocks:
            h = block(h, n, maps)
        if maps is not None:
            self.attention_maps = maps
        # features in (S, T', C) order for flatten; mean over all positions for gap
        h = h.reshape(n, -1) if self.head == "flatten" else h.view(n, -1, h.shape[-1]).mean(1)
        return self.fc(self.dropout(h))


# The registry builder: DanHAR's own signature is the list of options (and defaults).
build_danhar = DanHAR

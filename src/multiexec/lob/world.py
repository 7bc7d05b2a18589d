"""The neural world agent: one compiled agent that stands in for all background traders (INTAGS, Coletta et al.).

A stochastic policy ``A = G_theta(z | S)``: an MLP over weights held in numpy arrays, evaluated inside the
kernel's compiled event loop (a few microseconds per order, no Python round trip). Its torch twin for training
lives in :mod:`multiexec.intags.world`; both read and write the same :class:`WorldWeights`.

State ``S``: the book features of the last ``history`` decisions (the current one last), ``N_FEATURES`` per
decision, in this order:

0. volume imbalance at the first level, ``(q_bid - q_ask) / (q_bid + q_ask)``;
1. volume imbalance over the first 5 levels;
2. ``log1p`` of the volume at the first level (both sides);
3. ``log1p`` of the volume over the first 5 levels;
4. ``log`` of the spread in ticks (the last two-sided spread when a side is empty);
5. order-sign imbalance: an EWMA (weight ``OSI_ALPHA``) of the signs of the limit and market orders that reached
   the exchange (every sender, the execution agent included);
6. mid-price return since the previous decision, basis points (clipped to +-50);
7. ``log1p`` of the time since the previous decision, microseconds.

Action: a raw vector ``y`` of ``N_OUT`` numbers (what the MLP outputs, and what a calibration forces or scores):
three type scores (limit, market, cancel; the largest wins), a side score (>= 0 buy), and standardised
``log size``, ``depth`` (ticks behind the same-side best price; negative: inside the spread) and
``log1p(time to the next order in microseconds)`` (with ``dt_source="empirical"`` the time is drawn instead from
the training orders' distribution, as DeepMarket's cWGAN world agent draws it from a fitted gamma law).
:func:`decode` turns it into an order; the kernel then prices
it against the book (a limit order never crosses; a cancel removes the agent's own shares at the occupied level
nearest the target price, newest first).

Weights file (``.npz``): ``arch`` (JSON: history, features, noise_dim, hidden sizes, activation), ``x_mean`` /
``x_std`` (input standardisation), ``out_norm`` (mean and std of log size, depth, log1p dt), ``W0, b0, W1, ...``
and optionally ``dt_quantiles`` (log1p dt_us of the training orders at 101 probabilities) and ``x_lo`` / ``x_hi``
(the range of the training states: a state outside it is clipped into it before the MLP, so the generator never
extrapolates: a book that drifts beyond anything in its training data, e.g. 50,000 shares at the best bid, is
read as the largest book it has seen, instead of feeding ever larger orders back into the book).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numba as nb
import numpy as np

from multiexec.errors import MultiexecError
from multiexec.lob import engine as E

N_FEATURES = 8
N_OUT = 7
FEATURE_NAMES = ("imbalance_1", "imbalance_5", "log_volume_1", "log_volume_5", "log_spread", "order_sign_imbalance",
                 "mid_return_bp", "log_dt_us")
SIGNED_FEATURES = (0, 1, 5, 6)  # features whose sign flips when buys and sells swap (imbalances, order signs, return)
OUT_NAMES = ("score_limit", "score_market", "score_cancel", "side", "log_size", "depth", "log_dt")
A_LIMIT, A_MARKET, A_CANCEL = 0, 1, 2
ACTION_NAMES = ("limit", "market", "cancel")
OSI_ALPHA = 1.0 / 64.0
ACTIVATIONS = ("relu", "tanh")
BOOK_LEVELS = 5

# world-agent state row (per world agent): header, then the feature history (oldest first)
W_MID, W_SPREAD, W_OSI, W_OLL, W_LASTT, W_NDEC, W_FORCED, W_NMISS, W_BID, W_ASK, W_NREDRAW = range(11)
W_FY = 11  # forced action y (N_OUT)
W_LY = W_FY + N_OUT  # last action y (N_OUT)
W_HIST = W_LY + N_OUT
# world-agent parameters row
C_LAT, C_MINDT, C_MAXDT, C_MAXSIZE, C_MAXDEPTH, C_REDRAW, C_DTMODE, C_CANCEL = range(8)
NWC = 8
DT_GENERATOR, DT_EMPIRICAL = 0, 1
CANCEL_DEPTH, CANCEL_VOLUME = 0, 1  # a cancel's level: nearest its depth output, or drawn in proportion to volume
# layout row: history, features, noise_dim, n_layers, activation, then dims (n_layers + 1), offsets of W and b
L_H, L_F, L_Z, L_NL, L_ACT = range(5)
L_DIMS = 5
# parameter vector: x_mean (H F), x_std (H F), out_norm (6), then the layers


@dataclass
class WorldWeights:
    """The world agent's generator: architecture and arrays (float64)."""

    history: int
    noise_dim: int
    hidden: tuple[int, ...]
    activation: str
    x_mean: np.ndarray  # (history * N_FEATURES,)
    x_std: np.ndarray
    out_norm: np.ndarray  # (6,): mean, std of log size; of depth; of log1p dt_us
    layers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (W (out, in), b (out,))
    meta: dict = field(default_factory=dict)  # provenance: source, r_bar, training steps...
    dt_quantiles: np.ndarray | None = None  # log1p(dt_us) of the training orders at probabilities 0..1 (sorted)
    x_lo: np.ndarray | None = None  # (history * N_FEATURES,): states are clipped into [x_lo, x_hi] (None: no clip)
    x_hi: np.ndarray | None = None

    @property
    def arch(self) -> dict:
        return {"history": self.history, "features": N_FEATURES, "noise_dim": self.noise_dim,
                "hidden": list(self.hidden), "activation": self.activation, "out": N_OUT}

    @property
    def n_in(self) -> int:
        return self.history * N_FEATURES + self.noise_dim

    def check(self) -> WorldWeights:
        """Validate shapes against the architecture (one-line :class:`MultiexecError`)."""
        if self.activation not in ACTIVATIONS:
            raise MultiexecError(f"world weights: activation {self.activation!r} not in {ACTIVATIONS}")
        if self.history < 1 or self.noise_dim < 1 or any(h < 1 for h in self.hidden):
            raise MultiexecError(f"world weights: history, noise_dim and hidden sizes must be >= 1, got {self.arch}")
        d = self.history * N_FEATURES
        if self.x_mean.shape != (d,) or self.x_std.shape != (d,) or self.out_norm.shape != (6,):
            raise MultiexecError(f"world weights: x_mean/x_std must have {d} values and out_norm 6, got "
                                 f"{self.x_mean.shape}, {self.x_std.shape}, {self.out_norm.shape}")
        if (self.x_std <= 0).any() or self.out_norm[1] <= 0 or self.out_norm[3] <= 0 or self.out_norm[5] <= 0:
            raise MultiexecError("world weights: standard deviations must be positive")
        if (self.x_lo is None) != (self.x_hi is None):
            raise MultiexecError("world weights: x_lo and x_hi come together (or neither)")
        if self.x_lo is not None and (self.x_lo.shape != (d,) or self.x_hi.shape != (d,)
                                      or not (np.isfinite(self.x_lo).all() and np.isfinite(self.x_hi).all())
                                      or (self.x_lo > self.x_hi).any()):
            raise MultiexecError(f"world weights: x_lo/x_hi must be {d} finite values with x_lo <= x_hi")
        q = self.dt_quantiles
        if q is not None and (q.ndim != 1 or len(q) < 2 or not np.isfinite(q).all() or (np.diff(q) < 0).any()):
            raise MultiexecError("world weights: dt_quantiles must be at least 2 sorted finite numbers")
        dims = [self.n_in, *self.hidden, N_OUT]
        if len(self.layers) != len(dims) - 1:
            raise MultiexecError(f"world weights: {len(self.layers)} layers for architecture {self.arch} "
                                 f"(expected {len(dims) - 1})")
        for i, (w, b) in enumerate(self.layers):
            if w.shape != (dims[i + 1], dims[i]) or b.shape != (dims[i + 1],):
                raise MultiexecError(f"world weights: layer {i} has W {w.shape} and b {b.shape}, architecture "
                                     f"{self.arch} needs {(dims[i + 1], dims[i])} and {(dims[i + 1],)}")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise MultiexecError(f"world weights: layer {i} has non-finite values")
        return self

    def digest(self) -> str:
        h = hashlib.sha256(json.dumps(self.arch, sort_keys=True).encode())
        q = [] if self.dt_quantiles is None else [self.dt_quantiles]
        c = [] if self.x_lo is None else [self.x_lo, self.x_hi]
        for a in (self.x_mean, self.x_std, self.out_norm, *[x for wb in self.layers for x in wb], *q, *c):
            h.update(np.ascontiguousarray(a, np.float64).tobytes())
        return h.hexdigest()[:16]

    # -- flat arrays for compiled code
    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """(parameter vector, layout vector) read by :func:`forward`."""
        dims = [self.n_in, *self.hidden, N_OUT]
        nl = len(dims) - 1
        parts = [self.x_mean, self.x_std, self.out_norm]
        off = sum(len(p) for p in parts)
        w_off, b_off = [], []
        for w, b in self.layers:
            w_off.append(off)
            parts.append(np.ascontiguousarray(np.asarray(w, np.float64).T).reshape(-1))  # input-major
            off += w.size
            b_off.append(off)
            parts.append(np.asarray(b, np.float64))
            off += b.size
        q = np.zeros(0) if self.dt_quantiles is None else np.asarray(self.dt_quantiles, np.float64)
        parts.append(q)
        c = np.zeros(0) if self.x_lo is None else np.concatenate([self.x_lo, self.x_hi]).astype(np.float64)
        parts.append(c)
        lay = [self.history, N_FEATURES, self.noise_dim, nl, ACTIVATIONS.index(self.activation), *dims, *w_off, *b_off,
               off, len(q), off + len(q), int(len(c) > 0)]
        return np.concatenate([np.asarray(p, np.float64) for p in parts]), np.array(lay, np.int64)

    # -- files
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"arch": np.array(json.dumps(self.arch)), "meta": np.array(json.dumps(self.meta)),
                  "x_mean": self.x_mean, "x_std": self.x_std, "out_norm": self.out_norm}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"W{i}"] = w
            arrays[f"b{i}"] = b
        if self.dt_quantiles is not None:
            arrays["dt_quantiles"] = self.dt_quantiles
        if self.x_lo is not None:
            arrays["x_lo"], arrays["x_hi"] = self.x_lo, self.x_hi
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, expect: dict | None = None) -> WorldWeights:
        """Read a weights file (or the ``world.npz`` in a training folder); ``expect``: an architecture the file
        must have (a file of another architecture is a one-line error)."""
        p = Path(path)
        if p.is_dir():
            p = p / "world.npz"
        if not p.is_file():
            raise MultiexecError(f"world weights file {p} not found (train one with `multiexec intags cwgan-train`)")
        try:
            with np.load(p, allow_pickle=False) as z:
                arch = json.loads(str(z["arch"]))
                meta = json.loads(str(z["meta"])) if "meta" in z else {}
                nl = len(arch["hidden"]) + 1
                w = cls(history=int(arch["history"]), noise_dim=int(arch["noise_dim"]),
                        hidden=tuple(int(h) for h in arch["hidden"]), activation=str(arch["activation"]),
                        x_mean=z["x_mean"].astype(np.float64), x_std=z["x_std"].astype(np.float64),
                        out_norm=z["out_norm"].astype(np.float64),
                        layers=[(z[f"W{i}"].astype(np.float64), z[f"b{i}"].astype(np.float64)) for i in range(nl)],
                        meta=meta,
                        dt_quantiles=z["dt_quantiles"].astype(np.float64) if "dt_quantiles" in z else None,
                        x_lo=z["x_lo"].astype(np.float64) if "x_lo" in z else None,
                        x_hi=z["x_hi"].astype(np.float64) if "x_hi" in z else None)
        except (KeyError, ValueError, OSError) as exc:
            raise MultiexecError(f"world weights file {p} is not a world-agent weights file ({exc})") from None
        if int(arch.get("features", N_FEATURES)) != N_FEATURES or int(arch.get("out", N_OUT)) != N_OUT:
            raise MultiexecError(f"world weights file {p}: {arch.get('features')} features / {arch.get('out')} "
                                 f"outputs, this simulator uses {N_FEATURES} / {N_OUT}")
        if expect is not None and {k: expect[k] for k in w.arch if k in expect} != {k: w.arch[k] for k in w.arch
                                                                                     if k in expect}:
            raise MultiexecError(f"world weights file {p} has architecture {w.arch}, expected {expect}")
        return w.check()

    @classmethod
    def random(cls, history: int = 5, noise_dim: int = 8, hidden=(64, 64), activation: str = "relu",
               seed: int = 0, meta: dict | None = None) -> WorldWeights:
        """Untrained weights (He-uniform layers; standardisation of an rmsc04-like book): for tests and the
        benchmark."""
        g = np.random.default_rng(seed)
        dims = [history * N_FEATURES + noise_dim, *hidden, N_OUT]
        layers = []
        for i in range(len(dims) - 1):
            lim = math.sqrt(6.0 / dims[i])
            layers.append((g.uniform(-lim, lim, (dims[i + 1], dims[i])) * (0.5 if i == len(dims) - 2 else 1.0),
                           np.zeros(dims[i + 1])))
        mean = np.tile([0.0, 0.0, 5.0, 6.5, 3.3, 0.0, 0.0, 4.0], history)
        std = np.tile([0.5, 0.3, 1.0, 1.0, 0.3, 0.3, 2.0, 2.0], history)
        return cls(history=history, noise_dim=noise_dim, hidden=tuple(hidden), activation=activation,
                   x_mean=mean, x_std=std, out_norm=np.array([4.0, 1.0, 5.0, 8.0, 5.0, 2.0]), layers=layers,
                   meta=dict(meta or {"source": f"random seed {seed}"})).check()


# ---------------------------------------------------------------- compiled forward and decode


@nb.njit(cache=True)
def forward(par, lay, x, z, buf, y):
    """``y = G(z | x)``: clip the state ``x`` (history x features, raw) into the training range when the
    weights carry one, standardise it, append the noise ``z``, run the MLP. ``buf``: scratch of at least
    ``2 * max layer width`` floats."""
    d = lay[L_H] * lay[L_F]
    nz = lay[L_Z]
    nl = lay[L_NL]
    act = lay[L_ACT]
    width = 0
    for i in range(nl + 1):
        width = max(width, lay[L_DIMS + i])
    a = buf[:width]
    b = buf[width:2 * width]
    kc = L_DIMS + 3 * nl + 4  # clip flag (after the dt quantiles' offset and count, the clip offset)
    if lay.shape[0] > kc and lay[kc] > 0:
        co = lay[kc - 1]
        for i in range(d):
            xi = min(max(x[i], par[co + i]), par[co + d + i])
            a[i] = (xi - par[i]) / par[d + i]
    else:
        for i in range(d):
            a[i] = (x[i] - par[i]) / par[d + i]
    for i in range(nz):
        a[d + i] = z[i]
    for li in range(nl):
        din = lay[L_DIMS + li]
        dout = lay[L_DIMS + li + 1]
        wo = lay[L_DIMS + nl + 1 + li]
        bo = lay[L_DIMS + 2 * nl + 1 + li]
        last = li == nl - 1
        for o in range(dout):
            b[o] = par[bo + o]
        # input-major weights: each output accumulates its inputs in order, and the inner loop over outputs
        # vectorises
        for i in range(din):
            ai = a[i]
            row = wo + i * dout
            for o in range(dout):
                b[o] += par[row + o] * ai
        if not last:
            for o in range(dout):
                if act == 0:
                    b[o] = b[o] if b[o] > 0.0 else 0.0
                else:
                    b[o] = math.tanh(b[o])
        a, b = b, a
    for o in range(lay[L_DIMS + nl]):
        y[o] = a[o]


@nb.njit(cache=True)
def decode(par, lay, y, cfg):
    """Order of raw action ``y``: (type, side, size, depth in ticks, time to the next order in ns), with the
    caps of the agent's parameter row ``cfg``."""
    d = lay[L_H] * lay[L_F]
    o = 2 * d
    typ = 0
    if y[1] > y[typ]:
        typ = 1
    if y[2] > y[typ]:
        typ = 2
    side = 1 if y[3] >= 0.0 else -1
    ls = min(max(y[4] * par[o + 1] + par[o], -20.0), 30.0)
    size = int(math.floor(math.exp(ls) + 0.5))
    size = min(max(size, 1), int(cfg[C_MAXSIZE]))
    md = cfg[C_MAXDEPTH]
    depth = min(max(y[5] * par[o + 3] + par[o + 2], -md), md)
    depth_i = int(math.floor(depth + 0.5))
    lt = min(max(y[6] * par[o + 5] + par[o + 4], 0.0), 30.0)
    dt = math.floor(math.expm1(lt) * 1000.0 + 0.5)
    dt = min(max(dt, cfg[C_MINDT]), cfg[C_MAXDT])
    return typ, side, size, depth_i, int(dt)


@nb.njit(cache=True)
def empirical_dt(par, lay, u, cfg):
    """Time to the next order (ns) drawn from the training orders' distribution (``dt_quantiles``, linear
    between quantiles) at uniform ``u``; -1 when the weights carry none."""
    nl = lay[L_NL]
    k = L_DIMS + 3 * nl + 1
    if lay.shape[0] < k + 2 or lay[k + 1] < 2:
        return -1
    off = lay[k]
    nq = lay[k + 1]
    pos = u * (nq - 1)
    i = min(int(pos), nq - 2)
    lt = par[off + i] + (par[off + i + 1] - par[off + i]) * (pos - i)
    dt = math.floor(math.expm1(min(max(lt, 0.0), 30.0)) * 1000.0 + 0.5)
    return int(min(max(dt, cfg[C_MINDT]), cfg[C_MAXDT]))


@nb.njit(cache=True)
def sample_actions(par, lay, x, zs, out):
    """Raw actions ``out[i] = G(zs[i] | x)`` for each noise row (the compiled forward, batched)."""
    width = 0
    for i in range(lay[L_NL] + 1):
        width = max(width, lay[L_DIMS + i])
    buf = np.empty(2 * width)
    for i in range(zs.shape[0]):
        forward(par, lay, x, zs[i], buf, out[i])


@nb.njit(cache=True)
def decode_many(par, lay, ys, cfg):
    """:func:`decode` for each row of ``ys``: (n, 5) int64 (type, side, size, depth, dt_ns)."""
    out = np.empty((ys.shape[0], 5), np.int64)
    for i in range(ys.shape[0]):
        r = decode(par, lay, ys[i], cfg)
        for j in range(5):
            out[i, j] = r[j]
    return out


# ---------------------------------------------------------------- features


@nb.njit(cache=True)
def book_features(bpx, bsz, apx, asz, t, w, feat):
    """Write the features of a book (first levels, price -1 where empty) at time ``t`` into ``feat`` and update
    the agent's state row ``w`` (last mid, spread, best prices, decision time). The order-sign imbalance
    ``w[W_OSI]`` is kept up to date by the caller."""
    qb1 = bsz[0] if bpx[0] >= 0 else 0
    qa1 = asz[0] if apx[0] >= 0 else 0
    qb5 = 0
    qa5 = 0
    for j in range(min(BOOK_LEVELS, bpx.shape[0])):
        if bpx[j] >= 0:
            qb5 += bsz[j]
        if apx[j] >= 0:
            qa5 += asz[j]
    feat[0] = (qb1 - qa1) / (qb1 + qa1) if qb1 + qa1 > 0 else 0.0
    feat[1] = (qb5 - qa5) / (qb5 + qa5) if qb5 + qa5 > 0 else 0.0
    feat[2] = math.log1p(qb1 + qa1)
    feat[3] = math.log1p(qb5 + qa5)
    mid = w[W_MID]
    if bpx[0] >= 0 and apx[0] >= 0:
        w[W_SPREAD] = max(1.0, float(apx[0] - bpx[0]))
        mid = 0.5 * (apx[0] + bpx[0])
    elif bpx[0] >= 0:
        mid = max(mid, bpx[0] + 0.5 * w[W_SPREAD])
    elif apx[0] >= 0:
        mid = min(mid, apx[0] - 0.5 * w[W_SPREAD]) if mid > 0 else apx[0] - 0.5 * w[W_SPREAD]
    feat[4] = math.log(max(1.0, w[W_SPREAD]))
    feat[5] = w[W_OSI]
    r = 1e4 * (mid / w[W_MID] - 1.0) if w[W_MID] > 0 and mid > 0 else 0.0
    feat[6] = min(max(r, -50.0), 50.0)
    feat[7] = math.log1p(max(0.0, (t - w[W_LASTT]) / 1000.0)) if w[W_NDEC] > 0 else 0.0
    if mid > 0:
        w[W_MID] = mid
    if bpx[0] >= 0:
        w[W_BID] = bpx[0]
    if apx[0] >= 0:
        w[W_ASK] = apx[0]
    w[W_LASTT] = t


@nb.njit(cache=True)
def push_history(w, hist_len, feat):
    """Shift the agent's feature history by one decision and append ``feat``."""
    F = feat.shape[0]
    for i in range(W_HIST, W_HIST + (hist_len - 1) * F):
        w[i] = w[i + F]
    o = W_HIST + (hist_len - 1) * F
    for j in range(F):
        w[o + j] = feat[j]


@nb.njit(cache=True)
def osi_scan(w, oll, n_ol):
    """Fold the signs of the limit / market messages logged since the agent last looked into its order-sign
    EWMA."""
    osi = w[W_OSI]
    for r in range(int(w[W_OLL]), n_ol):
        m = oll[r, E.OL_MSG]
        if (m == E.MSG_LIMIT or m == E.MSG_MARKET) and oll[r, E.OL_OID] != E.REJECTED:
            osi += OSI_ALPHA * (oll[r, E.OL_SIDE] - osi)
    w[W_OSI] = osi
    w[W_OLL] = n_ol


@nb.njit(cache=True)
def observe(ex, s, t, w, hist_len, bpx, bsz, apx, asz, feat):
    """The world agent's observation at ``t``: order signs, book features, history (mutates ``w``)."""
    osi_scan(w, ex.oll, ex.meta[E.M_NOL])
    E.l2_into(ex, s, BOOK_LEVELS, bpx, bsz, 0)
    E.l2_into(ex, s, BOOK_LEVELS, apx, asz, 1)
    book_features(bpx, bsz, apx, asz, t, w, feat)
    push_history(w, hist_len, feat)


@nb.njit(cache=True)
def nearest_level(ex, s, k, target, max_scan):
    """Price of the non-empty level of side ``k`` nearest ``target`` (first ``max_scan`` levels; -1 when the
    side is empty)."""
    i = ex.symv[s, E.SV_BID + k]
    base = ex.symv[s, E.SV_BASE]
    best = -1
    bd = 1 << 62
    n = 0
    while i >= 0 and n < max_scan:
        p = i + base
        d = abs(p - target)
        if d < bd:
            bd = d
            best = p
        elif d > bd:
            break
        i = E.next_level(ex.bits, ex.meta, s, k, i)
        n += 1
    return best


@nb.njit(cache=True)
def volume_level(ex, s, k, u, max_scan):
    """Price of a level of side ``k`` drawn in proportion to its resting volume (first ``max_scan`` levels) at
    uniform ``u``: each resting share is equally likely to be the one cancelled, so a level holding more volume
    loses more of it (cancellations proportional to queue size, as in Cont, Stoikov and Talreja's book model).
    -1 when the side is empty."""
    base = ex.symv[s, E.SV_BASE]
    total = 0
    i = ex.symv[s, E.SV_BID + k]
    n = 0
    while i >= 0 and n < max_scan:
        total += ex.lvl[s, k, i, E.L_QTY]
        i = E.next_level(ex.bits, ex.meta, s, k, i)
        n += 1
    if total <= 0:
        return -1
    target = u * total
    acc = 0
    i = ex.symv[s, E.SV_BID + k]
    last = -1
    n = 0
    while i >= 0 and n < max_scan:
        acc += ex.lvl[s, k, i, E.L_QTY]
        last = i + base
        if acc > target:
            break
        i = E.next_level(ex.bits, ex.meta, s, k, i)
        n += 1
    return last


@nb.njit(cache=True)
def cancel_level(ex, t, s, side, px, qty, agent):
    """Cancel up to ``qty`` shares of ``agent``'s orders resting at price ``px`` on side ``side`` (+1 bids),
    newest first (partial cancels keep the queue position). Returns the shares cancelled."""
    k = 0 if side > 0 else 1
    i = px - ex.symv[s, E.SV_BASE]
    if i < 0 or i >= ex.lvl.shape[2] or ex.lvl[s, k, i, E.L_CNT] == 0:
        return 0
    pool = ex.pool
    slot = ex.lvl[s, k, i, E.L_TAIL]
    rem = qty
    while slot >= 0 and rem > 0:
        prev = pool[slot, E.O_PREV]
        if pool[slot, E.O_AGENT] == agent:
            q = pool[slot, E.O_QTY]
            c = q if q <= rem else rem
            E.cancel_order(ex, t, (pool[slot, E.O_GEN] << 32) | slot, c, agent, s, side)
            rem -= c
        slot = prev
    return qty - rem


# ---------------------------------------------------------------- (state, action) pairs from a message stream

# stream kinds
S_LIMIT, S_MARKET, S_CANCEL, S_EXEC = 0, 1, 2, 3
# stream columns: time_ns, kind, side (of the order; of the resting order for cancel / exec), px ticks, qty, id
ST_TIME, ST_KIND, ST_SIDE, ST_PX, ST_QTY, ST_ID = range(6)
# pair action columns: type, side, size, depth, time_ns (dt filled in by the caller)
PA_TYPE, PA_SIDE, PA_SIZE, PA_DEPTH, PA_TIME = range(5)


@nb.njit(cache=True)
def _front_reduce(ex, t, s, k, px, qty):
    """Take ``qty`` shares off the front of the level at ``px`` (an order whose id is unknown)."""
    i = px - ex.symv[s, E.SV_BASE]
    if i < 0 or i >= ex.lvl.shape[2]:
        return
    rem = qty
    while rem > 0 and ex.lvl[s, k, i, E.L_CNT] > 0:
        slot = ex.lvl[s, k, i, E.L_HEAD]
        q = ex.pool[slot, E.O_QTY]
        c = q if q <= rem else rem
        E.cancel_order(ex, t, (ex.pool[slot, E.O_GEN] << 32) | slot, c, -1, s, 0)
        rem -= c


@nb.njit(cache=True)
def extract_pairs(stream, ex, hist_len, states, actions, skip_before_ns):
    """Replay a message stream through the empty exchange ``ex`` (one symbol) and record, before each order of
    the background traders, the world agent's state (``hist_len`` x features, what :func:`observe` computes)
    and the order as an action. Limit orders at or through the opposite best count as market orders; the
    executions of one incoming order (``S_EXEC`` rows at the same time and side, LOBSTER's type 4) are one
    market order; cancels of unknown orders and orders with unknown ids act on the front of their level.
    Rows before ``skip_before_ns`` update the book but are not recorded. Returns the number of pairs (negative:
    the exchange ran out of room at that row)."""
    ids = nb.typed.Dict.empty(key_type=nb.types.int64, value_type=nb.types.int64)
    F = N_FEATURES
    w = np.zeros(W_HIST + hist_len * F)
    bpx = np.empty(BOOK_LEVELS, np.int64)
    bsz = np.empty(BOOK_LEVELS, np.int64)
    apx = np.empty(BOOK_LEVELS, np.int64)
    asz = np.empty(BOOK_LEVELS, np.int64)
    feat = np.empty(F)
    n = 0
    last_exec_t = -1
    last_exec_side = 0
    for r in range(stream.shape[0]):
        t = stream[r, ST_TIME]
        kind = stream[r, ST_KIND]
        side = stream[r, ST_SIDE]
        px = stream[r, ST_PX]
        qty = stream[r, ST_QTY]
        oid = stream[r, ST_ID]
        if qty <= 0:
            continue
        # a continuing execution of the same incoming order: add to the previous action
        if kind == S_EXEC and t == last_exec_t and side == last_exec_side:
            if n > 0 and t >= skip_before_ns:
                actions[n - 1, PA_SIZE] += qty
            k = 0 if side > 0 else 1
            if oid in ids:
                E.cancel_order(ex, t, ids[oid], qty, -1, 0, side)
            else:
                _front_reduce(ex, t, 0, k, px, qty)
            continue
        if ex.meta[E.M_NFREE] < 1 or ex.meta[E.M_NOL] + ex.meta[E.M_NREST] + 2 > ex.oll.shape[0] \
                or ex.meta[E.M_NTR] + ex.meta[E.M_NREST] + 2 > ex.trl.shape[0]:
            return -(r + 1)  # out of room: the caller sizes the exchange from the stream
        # observe (the state before this order) as the agent would; order signs come from the actions below
        E.l2_into(ex, 0, BOOK_LEVELS, bpx, bsz, 0)
        E.l2_into(ex, 0, BOOK_LEVELS, apx, asz, 1)
        bid = bpx[0]
        ask = apx[0]
        rec = t >= skip_before_ns
        typ = -1
        aside = side
        depth = 0
        if kind == S_LIMIT:
            if (side > 0 and ask >= 0 and px >= ask) or (side < 0 and bid >= 0 and px <= bid):
                typ = A_MARKET
            else:
                typ = A_LIMIT
                if side > 0:
                    ref = bid if bid >= 0 else (ask - 1 if ask >= 0 else px)
                    depth = ref - px
                else:
                    ref = ask if ask >= 0 else (bid + 1 if bid >= 0 else px)
                    depth = px - ref
        elif kind == S_MARKET:
            typ = A_MARKET
        elif kind == S_CANCEL:
            if px < 0:
                continue
            typ = A_CANCEL
            if side > 0:
                depth = bid - px if bid >= 0 else 0
            else:
                depth = px - ask if ask >= 0 else 0
        elif kind == S_EXEC:
            typ = A_MARKET
            aside = -side
        else:
            continue
        book_features(bpx, bsz, apx, asz, t, w, feat)
        push_history(w, hist_len, feat)
        w[W_NDEC] += 1
        if rec:
            o = W_HIST
            for j in range(hist_len * F):
                states[n, j] = w[o + j]
            actions[n, PA_TYPE] = typ
            actions[n, PA_SIDE] = aside
            actions[n, PA_SIZE] = qty
            actions[n, PA_DEPTH] = depth
            actions[n, PA_TIME] = t
            n += 1
        if typ != A_CANCEL:
            w[W_OSI] += OSI_ALPHA * (aside - w[W_OSI])
        # apply to the book
        if kind == S_LIMIT:
            got = E.limit_order(ex, t, 0, 0, side, px, qty)
            if got >= 0:
                ids[oid] = got
        elif kind == S_MARKET:
            E.market_order(ex, t, 0, 0, side, qty)
        elif kind == S_CANCEL:
            k = 0 if side > 0 else 1
            if oid in ids:
                E.cancel_order(ex, t, ids[oid], qty, -1, 0, side)
            else:
                _front_reduce(ex, t, 0, k, px, qty)
        elif kind == S_EXEC:
            last_exec_t = t
            last_exec_side = side
            k = 0 if side > 0 else 1
            if oid in ids:
                E.cancel_order(ex, t, ids[oid], qty, -1, 0, side)
            else:
                _front_reduce(ex, t, 0, k, px, qty)
        if kind != S_EXEC:
            last_exec_t = -1
    return n

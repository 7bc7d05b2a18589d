"""The cWGAN baseline world agent (Coletta et al. 2021/2022; INTAGS' warm start), trained with WGAN-GP.

Generator ``G(z | S)``: :class:`multiexec.intags.world.WorldGenerator` (the compiled world agent's twin).
Critic ``D(S, A)``: an MLP on the standardised state and the order in the critic's view
(:func:`multiexec.intags.world.encode_actions` for real orders, :func:`~multiexec.intags.world.soft_actions` for
generated ones). WGAN-GP (Gulrajani et al. 2017): gradient penalty 10 on interpolated orders at the same state,
5 critic steps per generator step, Adam 1e-4 with betas (0.5, 0.9) (our choice where the papers are silent;
``shared/notes/market-simulation.md``).

Output folder: ``checkpoint.pt`` (architecture, both networks, optimisers, random state, step: resumable; a
checkpoint of another architecture is a one-line error), ``world.npz`` (the generator exported into the compiled
world agent's arrays: the market ``world:<folder>`` runs it), ``losses.csv`` and ``summary.json``.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from multiexec.errors import MultiexecError
from multiexec.intags.world import (Pairs, WorldGenerator, decode, dt_quantiles_of, encode_actions, input_norm_of,
                                    input_range_of, out_norm_of, soft_actions)
from multiexec.lob.world import ACTION_NAMES, N_FEATURES, N_OUT


@dataclass
class CwganArch:
    history: int = 5
    noise_dim: int = 8
    g_hidden: tuple[int, ...] = (64, 64)
    d_hidden: tuple[int, ...] = (128, 128)
    activation: str = "relu"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["g_hidden"], d["d_hidden"] = list(self.g_hidden), list(self.d_hidden)
        return d


@dataclass
class TrainSpec:
    steps: int = 2000  # generator steps
    batch: int = 256
    n_critic: int = 5
    gp: float = 10.0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    seed: int = 0
    ckpt_every: int = 500
    log_every: int = 50
    state_clip: float = 1e-3  # states clipped into their [q, 1 - q] training quantiles (0: no clip)

    def check(self) -> TrainSpec:
        if not 0.0 <= self.state_clip < 0.5:
            raise MultiexecError(f"cWGAN training: state_clip is a tail probability in [0, 0.5), got {self.state_clip}")
        if self.steps < 1 or self.batch < 2 or self.n_critic < 1 or self.lr <= 0 or self.gp < 0:
            raise MultiexecError(f"cWGAN training: steps >= 1, batch >= 2, n_critic >= 1, lr > 0, gp >= 0; got "
                                 f"steps {self.steps}, batch {self.batch}, n_critic {self.n_critic}, lr {self.lr}, "
                                 f"gp {self.gp}")
        return self


class Critic(nn.Module):
    def __init__(self, history: int, hidden=(128, 128)):
        super().__init__()
        dims = [history * N_FEATURES + N_OUT, *hidden]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers += [nn.Linear(dims[i], dims[i + 1]), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(dims[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x_std: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x_std, a], dim=1)).squeeze(1)


@dataclass
class TrainResult:
    out: Path
    steps: int
    seconds: float
    losses: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, arch: CwganArch | None = None) -> dict:
    """Read a cWGAN checkpoint (a file or a training folder); with ``arch``, one of another architecture is a
    one-line error."""
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise MultiexecError(f"cWGAN checkpoint {p} not found")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=False)
        have = blob["arch"]
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line
        raise MultiexecError(f"{p} is not a cWGAN checkpoint ({type(exc).__name__})") from None
    if arch is not None and have != arch.as_dict():
        diff = {k: (have.get(k), v) for k, v in arch.as_dict().items() if have.get(k) != v}
        raise MultiexecError(f"checkpoint {p} has another architecture: " +
                             ", ".join(f"{k} {a} (wanted {b})" for k, (a, b) in diff.items()))
    return blob


def generator_from_checkpoint(path: str | Path) -> WorldGenerator:
    blob = load_checkpoint(path)
    a = blob["arch"]
    g = WorldGenerator(a["history"], a["noise_dim"], tuple(a["g_hidden"]), a["activation"],
                       blob["x_mean"], blob["x_std"], blob["out_norm"], meta=blob.get("meta", {}),
                       x_lo=blob.get("x_lo"), x_hi=blob.get("x_hi"))
    g.load_state_dict(blob["G"])
    g.dt_quantiles = blob.get("dt_quantiles")
    return g


def train_cwgan(pairs: Pairs, out: str | Path, arch: CwganArch | None = None, spec: TrainSpec | None = None,
                resume: bool = False, progress: bool = True) -> TrainResult:
    """Train the cWGAN on ``pairs`` into folder ``out`` (see the module docstring). The same pairs, spec and
    seed give the same weights; ``resume`` continues from ``out/checkpoint.pt`` (same architecture and seed).
    Runs on one thread: these networks are small, and two OpenMP threads on a shared 2-core machine made a step
    ~50 times slower (spin-waiting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(pairs, out, arch, spec, resume, progress)
    finally:
        torch.set_num_threads(threads)


def _train(pairs: Pairs, out, arch, spec, resume: bool, progress: bool) -> TrainResult:
    from tqdm import tqdm

    arch = arch or CwganArch()
    spec = (spec or TrainSpec()).check()
    out = Path(out)
    if pairs.states.shape[1:] != (arch.history, N_FEATURES):
        raise MultiexecError(f"pairs have states of shape {pairs.states.shape[1:]}, architecture needs "
                             f"({arch.history}, {N_FEATURES}): extract them with history={arch.history}")
    if len(pairs) < spec.batch:
        raise MultiexecError(f"{len(pairs)} pairs: fewer than one batch of {spec.batch}")
    torch.manual_seed(spec.seed)
    x_mean, x_std = input_norm_of(pairs)
    on = out_norm_of(pairs)
    dtq = dt_quantiles_of(pairs)
    x_lo, x_hi = input_range_of(pairs, spec.state_clip) if spec.state_clip > 0 else (None, None)
    G = WorldGenerator(arch.history, arch.noise_dim, arch.g_hidden, arch.activation, x_mean, x_std, on,
                       meta={"source": pairs.source, "r_bar": int(pairs.r_bar)}, x_lo=x_lo, x_hi=x_hi)
    G.dt_quantiles = dtq
    D = Critic(arch.history, arch.d_hidden)
    opt_g = torch.optim.Adam(G.parameters(), lr=spec.lr, betas=spec.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=spec.lr, betas=spec.betas)
    gen = torch.Generator().manual_seed(spec.seed)
    step0, losses = 0, []
    ck = out / "checkpoint.pt"
    if resume and ck.is_file():
        blob = load_checkpoint(ck, arch)
        if blob["spec"]["seed"] != spec.seed:
            raise MultiexecError(f"checkpoint {ck} was trained with seed {blob['spec']['seed']}, not {spec.seed}")
        if blob["spec"].get("state_clip", 0.0) != spec.state_clip:
            raise MultiexecError(f"checkpoint {ck} was trained with state_clip {blob['spec'].get('state_clip', 0.0)}, "
                                 f"not {spec.state_clip}")
        if blob["n_pairs"] != len(pairs):
            raise MultiexecError(f"checkpoint {ck} was trained on {blob['n_pairs']} pairs, these are {len(pairs)}")
        G.load_state_dict(blob["G"])
        D.load_state_dict(blob["D"])
        opt_g.load_state_dict(blob["opt_g"])
        opt_d.load_state_dict(blob["opt_d"])
        gen.set_state(blob["gen"])
        torch.set_rng_state(blob["torch_rng"])
        step0, losses = int(blob["step"]), list(blob["losses"])
    out.mkdir(parents=True, exist_ok=True)

    xr = torch.as_tensor(pairs.states.reshape(len(pairs), -1))  # raw, for G (which clips them itself)
    xs = ((G.clip(xr) - G.x_mean) / G.x_std).float()  # the critic's view: clipped and standardised, as G sees them
    ar = torch.as_tensor(encode_actions(pairs.orders, on)).float()
    n = len(pairs)

    def save(step):
        _atomic_torch_save({"arch": arch.as_dict(), "spec": asdict(spec), "step": step, "G": G.state_dict(),
                            "D": D.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                            "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "losses": losses,
                            "x_mean": x_mean, "x_std": x_std, "x_lo": x_lo, "x_hi": x_hi, "out_norm": on,
                            "dt_quantiles": dtq, "n_pairs": n,
                            "meta": G.meta}, ck)
        G.to_weights(meta={"steps": step, "seed": spec.seed}).save(out / "world.npz")

    t0 = time.time()
    bar = tqdm(range(step0, spec.steps), initial=step0, total=spec.steps, desc="cWGAN", unit="step",
               disable=not progress)
    for step in bar:
        for _ in range(spec.n_critic):
            idx = torch.randint(0, n, (spec.batch,), generator=gen)
            z = torch.randn(spec.batch, arch.noise_dim, generator=gen)
            with torch.no_grad():
                fake = soft_actions(G(z, xr[idx]))
            real = ar[idx]
            x = xs[idx]
            eps = torch.rand(spec.batch, 1, generator=gen)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(D(x, mix).sum(), mix, create_graph=True)
            gp = ((grad.norm(dim=1) - 1.0) ** 2).mean()
            w_est = D(x, real).mean() - D(x, fake).mean()
            d_loss = -w_est + spec.gp * gp
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        idx = torch.randint(0, n, (spec.batch,), generator=gen)
        z = torch.randn(spec.batch, arch.noise_dim, generator=gen)
        g_loss = -D(xs[idx], soft_actions(G(z, xr[idx]))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if (step + 1) % spec.log_every == 0 or step + 1 == spec.steps:
            rec = {"step": step + 1, "d_loss": d_loss.item(), "g_loss": g_loss.item(), "w_distance": w_est.item(),
                   "gp": gp.item()}
            losses.append(rec)
            bar.set_postfix(w=f"{rec['w_distance']:.3f}", g=f"{rec['g_loss']:.3f}", refresh=False)
        if (step + 1) % spec.ckpt_every == 0 and step + 1 < spec.steps:
            save(step + 1)
    bar.close()
    seconds = time.time() - t0
    save(spec.steps)
    with open(out / "losses.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=["step", "d_loss", "g_loss", "w_distance", "gp"])
        wr.writeheader()
        wr.writerows(losses)
    summary = {"pairs": n, "source": pairs.source, "arch": arch.as_dict(), "spec": asdict(spec),
               "seconds": round(seconds, 1), "final": losses[-1] if losses else {},
               "real": _order_stats(pairs.orders), "generated": _order_stats(_generated_orders(G, pairs, spec.seed))}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return TrainResult(out, spec.steps, seconds, losses, summary)


def _generated_orders(G: WorldGenerator, pairs: Pairs, seed: int, n: int = 20_000) -> np.ndarray:
    g = torch.Generator().manual_seed(seed + 1)
    idx = torch.randint(0, len(pairs), (min(n, len(pairs)),), generator=g)
    with torch.no_grad():
        y = G(torch.randn(len(idx), G.noise_dim, generator=g), torch.as_tensor(pairs.states[idx.numpy()]))
    return decode(y, G.out_norm)


def _order_stats(o: np.ndarray) -> dict:
    t = o[:, 0]
    lim = o[t == 0]
    return {**{f"share_{a}": round(float((t == i).mean()), 4) for i, a in enumerate(ACTION_NAMES)},
            "share_buy": round(float((o[:, 1] > 0).mean()), 4),
            "size_p50": float(np.median(o[:, 2])), "size_p90": float(np.quantile(o[:, 2], 0.9)),
            "limit_depth_p50": float(np.median(lim[:, 3])) if len(lim) else float("nan"),
            "dt_us_p50": float(np.median(o[:, 4]) / 1000)}

"""Supervised check that the agent's observation, through the agent's own extractor E, carries the price information:
regress the signed step deviation g_t = d (p_t/p~ - 1) (and the actionable part g_t - mean(g_t..g_T)) on h0 = E(obs_t),
train split -> R^2 on the valid split. Synthetic market, default data config."""
import numpy as np, torch
torch.set_num_threads(1); torch.manual_seed(0)
from multiexec.data.dataset import DataConfig, load_dataset
from multiexec.execution.env import ExecConfig, MultiOrderEnv, F_SEQ, F_NOW
from multiexec.policies.nets import Extractor

ds = load_dataset(DataConfig(source="synthetic"))
env = MultiOrderEnv(ds.bars, ds.orders, ExecConfig())
T = env.n_steps

def collect(ids):
    obs = env.reset(ids)
    nows = []
    while True:
        nows.append(torch.from_numpy(obs.now))
        res = env.step(np.full(obs.mask.shape, 1 / T))
        obs = res.obs
        if res.done: break
    seq = torch.from_numpy(obs.seq)  # final history (B,N,T,F)
    g = env.side[..., None] * (env.price / env.avg_price[..., None] - 1.0)
    act = g - (np.cumsum(g[..., ::-1], -1)[..., ::-1] / np.arange(T, 0, -1))
    return seq, torch.stack(nows, 1), torch.from_numpy(env.mask), torch.tensor(g, dtype=torch.float32), torch.tensor(act, dtype=torch.float32)

tr, va = collect(ds.splits["train"]), collect(ds.splits["valid"])
for tname, ti in (("g_t", 3), ("actionable g_t - mean(g_t..g_T)", 4)):
    torch.manual_seed(0)
    ext = Extractor(F_SEQ, F_NOW, 64, 128); head = torch.nn.Linear(128, 1)
    opt = torch.optim.Adam(list(ext.parameters()) + list(head.parameters()), lr=1e-3)
    def pred(d):
        seq, now = d[0], d[1]
        hist = ext.history(seq).transpose(1, 2)  # (B,T,N,R)
        h0 = ext.head(hist, now)
        return head(h0).squeeze(-1).transpose(1, 2)  # (B,N,T)
    def r2(d):
        with torch.no_grad():
            p = pred(d); y = d[ti] * 1e2; m = d[2].unsqueeze(-1).expand_as(y).clone(); m[..., -1] = ti == 3
            return float(1 - ((p - y)[m] ** 2).mean() / y[m].var())
    for it in range(600):
        p = pred(tr); y = tr[ti] * 1e2; m = tr[2].unsqueeze(-1).expand_as(y).clone(); m[..., -1] = ti == 3
        loss = ((p - y)[m] ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    print(f"E(obs) -> {tname}: train R^2 {r2(tr):.3f}, valid R^2 {r2(va):.3f}")

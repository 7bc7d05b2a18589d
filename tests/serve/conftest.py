"""Fixtures of the service tests: a small synthetic dataset, a tiny trained IaC^T run, and a service listening on a
loopback port (uvicorn in a thread: real HTTP)."""

import logging
import threading
import time

import pytest

from multiexec.data.dataset import DataConfig, SyntheticConfig, load_dataset
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.testing import free_port

logging.getLogger("multiexec.serve").setLevel(logging.WARNING)


class LiveServer:
    """An app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        import uvicorn

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        t0 = time.time()
        while not self.server.started:
            if time.time() - t0 > 20:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def dataset():
    return load_dataset(DataConfig(synthetic=SyntheticConfig(n_assets=12, n_days=36), cache=False))


@pytest.fixture(scope="session")
def exec_cfg():
    return ExecConfig()


@pytest.fixture(scope="session")
def env(dataset, exec_cfg):
    return MultiOrderEnv(dataset.bars, dataset.orders, exec_cfg)


@pytest.fixture(scope="session")
def iac_run(dataset, exec_cfg, tmp_path_factory):
    """A tiny IaC^T run (a few PPO updates), its folder."""
    from multiexec.algos.train import TrainConfig, train

    out = tmp_path_factory.mktemp("iac_t") / "run"
    train(dataset, TrainConfig(method="iac_t", seed=3, train_days=8, eval_every=8, rollout_days=4), out, exec_cfg,
          progress=False)
    return out


@pytest.fixture
def make_service(tmp_path):
    """make_service(**settings) -> (app, admin key, trader key, other trader key) on a fresh SQLite file."""
    from multiexec.serve.app import create_app
    from multiexec.serve.service import Settings

    made = []

    def make(**kw):
        kw.setdefault("db", f"sqlite:///{tmp_path}/serve{len(made)}.db")
        app = create_app(Settings(**kw))
        store = app.state.service.store
        keys = (store.add_key("admin", admin=True), store.add_key("desk"), store.add_key("other-desk"))
        made.append(app)
        return app, *keys

    yield make
    for app in made:
        app.state.service.store.dispose()


@pytest.fixture
def live():
    """live(app) -> LiveServer, stopped at the end of the test."""
    servers = []

    def start(app):
        servers.append(LiveServer(app))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()

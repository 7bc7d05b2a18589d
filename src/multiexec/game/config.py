"""Settings of the execution game's experiments: the DDQN agents (:class:`AgentConfig`), the PPO agents
(:class:`PPOAgentConfig`) and one experiment (:class:`RunConfig`). Shared by :mod:`multiexec.game.experiment` and
:mod:`multiexec.game.ppo_agents`, so that neither imports the other's settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from multiexec.algos.rl import DDQNConfig
from multiexec.game.params import GameParams


class AgentConfig(BaseModel):
    """DDQN settings (defaults: the note's Table 1)."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(1e-4, gt=0)
    batch_size: int = Field(64, gt=0)
    buffer_size: int = Field(15_000, gt=0)
    target_every: int = Field(75, gt=0, description="steps between target copies and epsilon decays")
    epsilon_decay: float = Field(0.995, gt=0, le=1)
    hidden: int = Field(30, gt=0)
    depth: int = Field(5, ge=1)
    target_grid: int | None = Field(
        None, ge=2, description="candidates for the target's argmax: None = every integer 0..q0 (exact), K = K-point grid")

    def ddqn_args(self) -> DDQNConfig:
        return DDQNConfig(learning_rate=self.learning_rate, batch_size=self.batch_size, buffer_size=self.buffer_size,
                          drop_oldest_half=True, gamma=1.0, schedule="steps", target_network_frequency=self.target_every,
                          epsilon_start=1.0, epsilon_decay=self.epsilon_decay, epsilon_decay_every=self.target_every,
                          max_grad_norm=1.0)


class PPOAgentConfig(BaseModel):
    """Settings of the PPO agents (common PPO defaults; the paper has no PPO)."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(3e-4, gt=0, description="Adam learning rate (actor and critic)")
    hidden: int = Field(64, gt=0)
    depth: int = Field(2, ge=1, description="hidden layers of actor and critic")
    rollout_episodes: int = Field(10, ge=1, description="episodes per run collected for each update")
    epochs: int = Field(4, ge=1, description="passes over each rollout")
    minibatches: int = Field(2, ge=1, description="minibatches per pass")
    clip: float = Field(0.2, gt=0, description="ratio clipping")
    gae_lambda: float = Field(0.95, ge=0, le=1)
    value_coef: float = Field(0.5, ge=0)
    entropy_coef: float = Field(0.003, ge=0)
    max_grad_norm: float = Field(0.5, gt=0, description="gradient-norm clip per run and agent")


class RunConfig(BaseModel):
    """One experiment: ``runs`` independent runs trained with ``params.sigma`` and tested with ``test_sigma``."""

    model_config = ConfigDict(extra="forbid")

    params: GameParams = GameParams()
    algo: Literal["ddqn", "ppo"] = Field("ddqn", description="the agents: Double DQN (the paper's) or PPO")
    agent: AgentConfig = AgentConfig()
    ppo: PPOAgentConfig = PPOAgentConfig()
    runs: int = Field(20, ge=1)
    train_episodes: int = Field(5000, ge=1)
    test_episodes: int = Field(2500, ge=1)
    test_sigma: float | None = Field(None, ge=0, description="volatility of the test phase (None: as in training)")
    seed: int = Field(0, ge=0)
    group_size: int = Field(10, ge=1, description="runs trained together as one ensemble (a unit of parallel work)")

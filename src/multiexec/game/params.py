"""Parameters of the Almgren–Chriss execution game (defaults: the paper's, see ``notes/execution-game.md``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from multiexec.errors import MultiexecError

#: the paper's three volatility regimes
REGIMES: dict[str, float] = {"zero": 1e-9, "moderate": 1e-3, "large": 1e-2}


class GameParams(BaseModel):
    """The discrete n-agent Almgren–Chriss market.

    ``coin_toss`` chooses the same-step convention: True (the paper's dynamics) draws a random order of the agents
    in every step and each agent also pays the permanent impact of the trades executed before it in that step;
    False lets trades of the same step not affect each other (the convention of the Schied–Zhang formula).
    """

    model_config = ConfigDict(extra="forbid")

    n_agents: int = Field(2, ge=1, description="number of agents")
    N: int = Field(10, ge=1, description="number of trading steps")
    T: float = Field(10.0, gt=0, description="horizon; tau = T/N")
    S0: float = Field(10.0, gt=0, description="initial mid-price")
    q0: float = Field(100.0, gt=0, description="initial inventory of each agent")
    alpha: float = Field(0.002, ge=0, description="temporary impact (own trade)")
    kappa: float = Field(0.001, ge=0, description="permanent impact (all trading)")
    sigma: float = Field(1e-3, ge=0, description="volatility per unit time")
    coin_toss: bool = Field(True, description="random order within a step (the later trader pays the earlier's impact)")
    side: Literal["sell", "buy"] = Field("sell", description="liquidate (sell) or acquire (buy)")

    @model_validator(mode="after")
    def _check(self) -> "GameParams":
        if self.q0 != round(self.q0):
            raise MultiexecError(f"game parameter q0={self.q0}: inventories are whole shares")
        return self

    @property
    def tau(self) -> float:
        return self.T / self.N

    @property
    def sign(self) -> float:
        """+1 for a seller (impact pushes the price down), -1 for a buyer."""
        return 1.0 if self.side == "sell" else -1.0

    def convention(self) -> str:
        """Short label of the same-step convention, written on every plot and table."""
        return "coin toss (later trader pays earlier's permanent impact)" if self.coin_toss else "no same-step impact"


def make_params(**kw: object) -> GameParams:
    """Build :class:`GameParams`, turning validation errors into :class:`MultiexecError` naming the key."""
    from pydantic import ValidationError

    try:
        return GameParams(**kw)  # type: ignore[arg-type]
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in exc.errors())
        raise MultiexecError(f"bad game parameter: {msgs}") from None

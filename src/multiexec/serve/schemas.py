"""Request bodies of the service (pydantic): every bad value is refused with the field at fault."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_AMOUNT = 1e12  # shares per order
MAX_CASH = 1e15
MAX_PRICE = 1e9
MAX_VOLUME = 1e15

Finite = dict(allow_inf_nan=False)


class PolicyRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    version: int | None = Field(None, ge=1, description="None: the latest version")


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["buy", "sell"]
    amount: float = Field(gt=0, le=MAX_AMOUNT, **Finite)


class ReferenceIn(BaseModel):
    """The observation's reference numbers of a symbol: the previous day's close and the mean step volume over the
    previous (up to 5) days at the day's step length."""

    model_config = ConfigDict(extra="forbid")
    prev_close: float = Field(gt=0, le=MAX_PRICE, **Finite)
    step_volume: float = Field(ge=0, le=MAX_VOLUME, **Finite)


class DayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: dt.date
    cash: float = Field(ge=0, le=MAX_CASH, **Finite)
    orders: list[OrderIn] = Field(min_length=1)
    policy: PolicyRef
    step_minutes: int = Field(30, ge=1, le=1440)
    minutes_per_day: int = Field(390, ge=1, le=1440)
    reference: dict[str, ReferenceIn]


class MinutesIn(BaseModel):
    """One symbol's minutes of the step, in order."""

    model_config = ConfigDict(extra="forbid")
    open: list[float] = Field(min_length=1)
    close: list[float] = Field(min_length=1)
    volume: list[float] = Field(min_length=1)
    high: list[float] | None = None
    low: list[float] | None = None


class FillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    quantity: float = Field(ge=0, le=MAX_AMOUNT, **Finite)
    price: float | None = Field(None, gt=0, le=MAX_PRICE, **Finite)


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0)
    market: dict[str, MinutesIn]
    fills: list[FillIn] = Field(default_factory=list)


class RulePolicyIn(BaseModel):
    """Admin: register a rule that needs no data (twap, side_split)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    rule: Literal["twap", "side_split"]
    step_minutes: int = Field(30, ge=1, le=1440)
    minutes_per_day: int = Field(390, ge=1, le=1440)
    note: str = Field("", max_length=500)

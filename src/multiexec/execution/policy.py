"""The policy interface shared by rule-based and learned policies: what every evaluation and training entry point
takes (it lives with the environment whose observations it maps, one floor below the policies)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from multiexec.execution.env import Obs


@runtime_checkable
class Policy(Protocol):
    """Maps a batch observation to actions.

    ``act`` returns either (B, N) integer indices into the environment's action set or (B, N)
    float fractions of each order's amount in [0, 1]. ``intended`` (optional) records, for
    methods with communication rounds, the intended actions of every round of the last call.
    """

    name: str

    def act(self, obs: Obs) -> np.ndarray: ...

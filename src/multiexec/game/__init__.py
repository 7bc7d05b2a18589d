"""The Almgren–Chriss execution game (n agents): market, closed-form and numerical benchmarks, Double-DQN and PPO agents.

- :mod:`.params` — :class:`GameParams` (the paper's defaults) and the volatility regimes;
- :mod:`.market` — the vectorised market and :func:`simulate_schedules`;
- :mod:`.theory` — expected IS, TWAP, Schied–Zhang Nash, exact discrete Nash, Pareto front (single-agent
  Almgren–Chriss: :func:`multiexec.policies.schedules.ac_trajectory`);
- :mod:`.agents` — the Q-network ensemble, candidate actions and exploration around TWAP;
- :mod:`.ppo_agents` — PPO agents (beyond the paper) choosing from the same candidate sales;
- :mod:`.experiment` — training and test phases of many runs at once;
- :mod:`.analysis`, :mod:`.study` — summary tables, the paper's figures, the whole study; :mod:`.cli` — commands.
"""

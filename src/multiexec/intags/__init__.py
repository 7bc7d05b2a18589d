"""INTAGS (Interactive Agent-Guided Simulation, issue 11): the market distance built on the causal effect of an
experimental execution agent's actions, and (built on top) the neural world agent calibrated on that distance.

Modules:

- :mod:`multiexec.intags.feedback`: the paper's feedback quantities computed from the experimental agent's log;
- :mod:`multiexec.intags.estimators`: causal-effect estimators (naive, the paper's IPW, Horvitz–Thompson, Hájek);
- :mod:`multiexec.intags.distances`: two-sample distances (unbiased MMD², energy distance, EMD, the paper's printed
  energy form);
- :mod:`multiexec.intags.rollouts`: running a market with the experimental agent, the process pool / Ray runners and
  the cached "real" feedback;
- :mod:`multiexec.intags.metric`: the metric study (bootstrap distance curves over the number of rollouts, same vs
  different market, the smallest N that separates).
"""

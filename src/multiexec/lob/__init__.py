"""Limit-order-book market simulator of the ABIDES kind, compiled with numba.

Modules: :mod:`~multiexec.lob.engine` (matching engine), :mod:`~multiexec.lob.kernel` (event kernel and
background agents), :mod:`~multiexec.lob.rng` (per-agent random streams), :mod:`~multiexec.lob.config`
(validated configurations: rmsc04, rmsc04-abides, rmsc03, multi), :mod:`~multiexec.lob.sim` (a simulated day),
:mod:`~multiexec.lob.execution` (TWAP, POV and INTAGS execution agents), :mod:`~multiexec.lob.env` (Gymnasium
execution environment), :mod:`~multiexec.lob.output` (run folders), :mod:`~multiexec.lob.replay` (LOBSTER replay),
the LOBSTER reader, stylized facts and realism report (:mod:`lobster`, :mod:`facts`, :mod:`realism`), and
:mod:`~multiexec.lob.seeds` (realism of a config over several seeds).
Nothing heavy is imported here.
"""

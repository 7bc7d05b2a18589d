"""The one command-line entry point: ``multiexec ...``.

Each area owns a sub-command group in its own ``cli.py`` (``data``, ``lob``, ``game``); the
execution commands (``evaluate``, ``train``, ``compare``) live in ``algos/cli.py``. Heavy imports happen inside the
commands so that ``--help`` is fast.
User errors (:class:`multiexec.MultiexecError`) print as one clear line, without a traceback.
"""

from __future__ import annotations

import sys

import typer

from multiexec.errors import MultiexecError

app = typer.Typer(
    name="multiexec",
    help="Multi-agent order execution: data, execution environments, policies, simulated markets, games.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from multiexec.algos.cli import register as register_algos
    from multiexec.data.cli import app as data_app
    from multiexec.game.cli import app as game_app
    from multiexec.lob.cli import app as lob_app

    app.add_typer(data_app, name="data", help="Load, cache, inspect and fit market data; make order sets.")
    app.add_typer(lob_app, name="lob", help="Limit-order-book market simulator (ABIDES kind).")
    app.add_typer(game_app, name="game", help="Almgren–Chriss execution game: Nash, Pareto, DDQN agents, collusion.")
    register_algos(app)


_register()


def main() -> None:
    from pydantic import ValidationError

    try:
        app()
    except (MultiexecError, ValidationError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

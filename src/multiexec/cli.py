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
    from multiexec.serve.cli import register as register_serve

    app.add_typer(data_app, name="data", help="Load, cache, inspect and fit market data; make order sets.")
    app.add_typer(lob_app, name="lob", help="Limit-order-book market simulator (ABIDES kind).")
    app.add_typer(game_app, name="game", help="Almgren–Chriss execution game: Nash, Pareto, DDQN agents, collusion.")
    from multiexec.intags.cli import app as intags_app

    app.add_typer(intags_app, name="intags", help="INTAGS: feedback-based market distance, world agent, calibration.")
    register_algos(app)
    register_serve(app)


_register()


def _plain_help_flag() -> None:
    """``--help`` is shown as a plain flag (typer 0.29 writes ``--help <bool>`` in every help page)."""
    try:
        from typer._click import core
    except ImportError:  # another typer: nothing to fix
        return
    original = core.Command.get_help_option
    if getattr(original, "_multiexec", False):
        return

    def get_help_option(self, ctx):
        opt = original(self, ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    get_help_option._multiexec = True
    core.Command.get_help_option = get_help_option


_plain_help_flag()


def _click_errors() -> tuple[type[BaseException], type[BaseException], type[BaseException]]:
    """(ClickException, NoArgsIsHelpError, Abort) of the click that typer uses."""
    try:
        from typer._click import exceptions as ex
    except ImportError:  # typer on click
        from click import exceptions as ex
    return ex.ClickException, getattr(ex, "NoArgsIsHelpError", ()), getattr(ex, "Abort", typer.Abort)


def run(argv: list[str] | None = None) -> int:
    """Run ``multiexec`` on ``argv`` (default: the command line) and return its exit status. Every user error —
    a bad option value, a bad file, a config that does not validate — is printed as ONE line, ``error: ...``, on
    stderr, with status 2 and without a traceback."""
    from pydantic import ValidationError

    from multiexec.errors import validation_message

    click_error, no_args, abort = _click_errors()
    try:
        rv = app(args=argv, prog_name="multiexec", standalone_mode=False)
    except (MultiexecError, ValidationError) as exc:
        msg = validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        typer.secho(f"error: {' '.join(msg.split())}", fg=typer.colors.RED, err=True)
        return 2
    except click_error as exc:
        if no_args and isinstance(exc, no_args):
            exc.show()
            return exc.exit_code
        msg = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        typer.secho(f"error: {msg}{hint}", fg=typer.colors.RED, err=True)
        return exc.exit_code
    except abort:
        typer.secho("error: aborted", fg=typer.colors.RED, err=True)
        return 1
    return rv if isinstance(rv, int) else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()

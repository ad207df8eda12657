"""What every command shares: the console and the guard that turns failures into one line."""

from __future__ import annotations

import contextlib
import functools
import sys

import click

from edgekit.errors import EdgeKitError


def console(stderr: bool = False):
    from rich.console import Console

    c = Console(stderr=stderr, highlight=False)
    if not c.is_terminal:  # piped or logged: wide enough for the tables
        c.width = max(c.width, 160)
    return c


def guarded(fn):
    """Turn every failure into one line and an exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = click.get_current_context().find_root().params.get("debug")
        try:
            return fn(*args, **kwargs)
        except EdgeKitError as e:
            if debug:
                raise
            console(True).print(f"[red]error:[/] {escape(one_line(e))}", soft_wrap=True)
            sys.exit(e.exit_code)
        except BrokenPipeError:  # `edgekit recipes | head`
            sys.stderr.close()
            sys.exit(0)
        except KeyboardInterrupt:
            console(True).print("[red]interrupted[/]")
            sys.exit(130)
        except Exception as e:  # a bug or an unwrapped third-party failure
            if debug:
                raise
            console(True).print(
                f"[red]error:[/] {type(e).__name__}: {escape(one_line(e))} "
                "(run with --debug for the traceback)",
                soft_wrap=True,
            )
            sys.exit(1)

    return wrapper


def escape(text: str) -> str:
    """Square brackets in a message ("[anchors]") printed as they are, not as rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@contextlib.contextmanager
def warnings_to(say):
    """edgekit's own warnings (a crash retry's, a budget's) reach the terminal through
    `say(text, soft_wrap=True)` while other libraries' output is captured."""
    import logging

    class ToTerminal(logging.Handler):
        def emit(self, record):
            say(f"[yellow]warning:[/] {escape(record.getMessage())}", soft_wrap=True)

    log = logging.getLogger("edgekit")
    handler = ToTerminal(logging.WARNING)
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = True


def import_option(fn):
    """`--import MODULE|FILE.py` (repeatable), for every command that loads a Keras model."""
    return click.option(
        "--import",
        "imports",
        multiple=True,
        metavar="MODULE|FILE.py",
        help="Your code that registers the model's custom classes (repeatable).",
    )(fn)


def load_imports(imports) -> None:
    """Import what `--import` named, in this process (commands that load in-process)."""
    from edgekit.source import import_user_code

    for spec in imports or ():
        import_user_code(spec)


def one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:500]

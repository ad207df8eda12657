"""The `edgekit` command: one module per command, imported only when that command runs.

Errors: an EdgeKitError is one red line and exit 2 (usage/config) or 1 (runtime); anything
else is one line too, with `--debug` for the traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

import click

# command name -> module defining a click command called `command`
COMMANDS = {
    "convert": "edgekit.cli.convert",
    "bench": "edgekit.cli.bench",
    "estimate": "edgekit.cli.estimate",
    "plan": "edgekit.cli.plan",
    "demo": "edgekit.cli.demo",
    "prune": "edgekit.cli.prune",
    "devices": "edgekit.cli.devices",
    "doctor": "edgekit.cli.doctor",
    "provision": "edgekit.cli.provision",
    "info": "edgekit.cli.info",
    "recipes": "edgekit.cli.recipes",
}


class LazyGroup(click.Group):
    """Lists every command that is installed; imports a command's module only to run it."""

    def list_commands(self, ctx) -> list[str]:
        return [n for n, m in COMMANDS.items() if importlib.util.find_spec(m) is not None]

    def get_command(self, ctx, name):
        module = COMMANDS.get(name)
        if module is None or importlib.util.find_spec(module) is None:
            return None
        return importlib.import_module(module).command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="edgekit")
def main(debug: bool) -> None:
    """Take a trained Keras model to edge devices and prove it works there."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )

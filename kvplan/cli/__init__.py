"""The `kvplan` command: a thin click face over the library.

Each subcommand lives in its own module and imports the library only when it runs, so that
`kvplan estimate` starts without numpy, pandas or torch. Every KvplanError becomes one line on
stderr and exit code 2, here and nowhere else.
"""

import sys

import click

from kvplan.cli.common import run_safely

COMMANDS = {
    "estimate": "kvplan.cli.estimate:estimate",
    "models": "kvplan.cli.models:models",
    "spec": "kvplan.cli.models:spec",
    "capacity": "kvplan.cli.capacity:capacity",
    "gpus": "kvplan.cli.capacity:gpus",
    "check": "kvplan.cli.check:check",
    "measure": "kvplan.cli.measure:measure",
}


class LazyGroup(click.Group):
    """A group whose commands are imported only when they are called or listed."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        module = __import__(module_name, fromlist=[attribute])
        return getattr(module, attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kvplan")
def cli() -> None:
    """Size the KV cache of LLM inference exactly, and check what fits on which GPU."""


def main() -> None:
    """Entry point of the `kvplan` script and `python -m kvplan`."""
    sys.exit(run_safely(cli))

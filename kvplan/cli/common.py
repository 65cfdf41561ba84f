"""What every command shares: list options, output options, one place for errors."""

import sys
from collections.abc import Callable

import click

from kvplan.errors import KvplanError

ERROR_PREFIX = "kvplan: error: "


def run_safely(command: click.Command, args: list[str] | None = None) -> int:
    """Run a click command; bad input becomes one stderr line and exit code 2, never a trace."""
    try:
        command.main(args=args, prog_name="kvplan", standalone_mode=False)
    except KvplanError as error:
        click.echo(f"{ERROR_PREFIX}{error}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo(f"{ERROR_PREFIX}interrupted", err=True)
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except KeyboardInterrupt:
        click.echo(f"{ERROR_PREFIX}interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return 0


def list_option(*names: str, default: str, help: str) -> Callable:
    """An option taking comma-separated values, repeatable: `--context 4k,32k --context 1M`."""
    return click.option(
        *names, multiple=True, default=[default], show_default=True, help=help
    )


def output_options(command: Callable) -> Callable:
    """--format, --output and --force, the same on every command."""
    command = click.option(
        "--force", is_flag=True, help="Overwrite the --output file if it exists."
    )(command)
    command = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write to this file (atomically) instead of stdout.",
    )(command)
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default=None,
        help="Output format (default: table, or the --output file's suffix).",
    )(command)


def note(text: str) -> None:
    """A note for the reader, on stderr so that stdout stays machine-readable."""
    click.echo(f"note: {text}", err=True)


def emit(
    rows, columns, *, fmt: str | None, output: str | None, force: bool, title: str = ""
):
    """Render rows and send them to stdout or the output file; notes go to stderr."""
    from kvplan.output import format_for, print_table, render, write_atomic

    for text in rows.notes:
        note(text)
    chosen = format_for(output, fmt)
    if output:
        path = write_atomic(
            output, render(rows, chosen, columns, title=title), force=force
        )
        click.echo(f"wrote {len(rows)} rows to {path}", err=True)
    elif chosen == "table":
        print_table(rows, columns, title=title)
    else:
        sys.stdout.write(render(rows, chosen, columns))


def complete_model(ctx, param, incomplete: str):
    """Shell completion for model names: the shipped specs."""
    from kvplan.catalog import shipped_names

    return [name for name in shipped_names() if name.startswith(incomplete.lower())]


def engine_options(*, default: str | None, help: str) -> Callable:
    """--engine and --engine-opt KEY=VALUE (repeatable), the same on every command."""

    def decorate(command: Callable) -> Callable:
        command = click.option(
            "--engine-opt",
            "-E",
            multiple=True,
            help="An engine setting KEY=VALUE, e.g. max_num_batched_tokens=2048 "
            "(repeatable).",
        )(command)
        return click.option(
            "--engine", "-e", default=default, show_default=bool(default), help=help
        )(command)

    return decorate


def _knob(item: str) -> str:
    return str(item).partition("=")[0].strip().replace("-", "_")


def profiles_with_options(profiles, options):
    """Each engine with the --engine-opt settings it has; a setting none has is an error."""
    if not options:
        return profiles
    from kvplan.engines import parse_knobs

    engines = [p for p in profiles if p.name != "ideal"] or profiles
    for item in options:
        if not any(_knob(item) in p.knobs() for p in engines):
            parse_knobs(engines[0], [item])  # raises, naming the settings it has
    return [
        p.with_knobs(**parse_knobs(p, [o for o in options if _knob(o) in p.knobs()]))
        for p in profiles
    ]

"""What every command shares: list options, output options, one place for errors."""

import sys
from collections.abc import Callable

import click

from kvplan.errors import KvplanError

ERROR_PREFIX = "kvplan: error: "


def _fail(message: str, code: int = 2) -> int:
    """One error line on stderr (never a traceback), and the exit code."""
    click.echo(f"{ERROR_PREFIX}{' '.join(str(message).split())}", err=True)
    return code


def _usage(error: click.UsageError) -> str:
    """A click usage error as one line naming the option or argument."""
    command = error.ctx.command_path if error.ctx else "kvplan"
    return f"{error.format_message()} (see {command} --help)"


def run_safely(command: click.Command, args: list[str] | None = None) -> int:
    """Run a click command; bad input becomes one stderr line and exit code 2, never a trace.

    Usage errors (an unknown option, a bad choice, a missing argument), kvplan's own errors,
    files that cannot be read or written, and a standard output that cannot take the result
    (a full disk, a file size limit) all end the same way: `kvplan: error: ...`, exit 2.
    A reader that closes the pipe early (`| head`) ends it quietly, exit 0.
    """
    try:
        command.main(args=args, prog_name="kvplan", standalone_mode=False)
        sys.stdout.flush()
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.ctx.get_help() if error.ctx else "", err=True)
        return 0
    except click.UsageError as error:
        return _fail(_usage(error))
    except KvplanError as error:
        return _fail(str(error))
    except (click.exceptions.Abort, KeyboardInterrupt):
        return _fail("interrupted", 130)
    except click.ClickException as error:
        return _fail(error.format_message(), error.exit_code)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as error:
        _quiet_stdout()
        where = f"{error.filename}: " if error.filename else "standard output: "
        return _fail(f"cannot write {where}{error.strerror or error}")
    return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's exit-time flush cannot fail again."""
    import os

    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - kept open until exit
    except OSError:
        pass


def list_option(*names: str, default: str, help: str) -> Callable:
    """An option taking comma-separated values, repeatable: `--context 4k,32k --context 1M`."""
    return click.option(
        *names, multiple=True, default=[default], show_default=True, help=help
    )


def _output_path(ctx, param, value):
    """`-o -` is standard output; `-o ""` is refused rather than read as "no file"."""
    if value == "-":
        return None
    if value is not None and not value.strip():
        raise click.BadParameter("an empty path; give a file, or - for standard output")
    return value


def output_option(command: Callable) -> Callable:
    """--output FILE (`-` for standard output), written atomically."""
    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, allow_dash=True),
        default=None,
        callback=_output_path,
        help="Write to this file (atomically) instead of stdout; - is stdout.",
    )(command)


def output_options(command: Callable) -> Callable:
    """--format, --output and --force, the same on every command."""
    command = click.option(
        "--force", is_flag=True, help="Overwrite the --output file if it exists."
    )(command)
    command = output_option(command)
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
    from kvplan.output import (
        format_for,
        print_table,
        render_chunks,
        write_atomic,
        write_stdout,
    )

    for text in rows.notes:
        note(text)
    chosen = format_for(output, fmt)
    if output:
        chunks = render_chunks(rows, chosen, columns, title=title)
        path = write_atomic(output, chunks, force=force)
        count = len(rows)
        click.echo(
            f"wrote {count:,} row{'s' if count != 1 else ''} to {path}", err=True
        )
    elif chosen == "table":
        print_table(rows, columns, title=title)
    else:
        for chunk in render_chunks(rows, chosen, columns):
            write_stdout(chunk)


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


def knob_name(item: str) -> str:
    """The setting an --engine-opt KEY=VALUE names, as the profiles spell it."""
    return str(item).partition("=")[0].strip().replace("-", "_")


def profiles_with_options(profiles, options):
    """Each engine with the --engine-opt settings it has; a setting none has is an error."""
    if not options:
        return profiles
    from kvplan.engines import parse_knobs

    engines = [p for p in profiles if p.name != "ideal"] or profiles
    for item in options:
        if not any(knob_name(item) in p.knobs() for p in engines):
            parse_knobs(engines[0], [item])  # raises, naming the settings it has
    return [
        p.with_knobs(
            **parse_knobs(p, [o for o in options if knob_name(o) in p.knobs()])
        )
        for p in profiles
    ]

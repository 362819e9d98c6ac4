"""``nnjobs``: the command line of the nnjobs API.

Exit codes: 0 success; 1 the job failed or was cancelled (or the service failed);
2 bad usage, including a request the API refused (4xx); 3 the service cannot be reached
(or stayed unavailable); 130 interrupted (Ctrl-C). Errors are one line on stderr,
``error: <message>``, followed by the offending fields when the API named several.
"""

from __future__ import annotations

import os
import sys

import click

from .commands.catalogue import activations, datasets
from .commands.common import (
    INTERRUPTED,
    JOB_FAILED,
    OK,
    UNREACHABLE,
    USAGE,
    Failed,
    emit,
    err,
)
from .commands.jobs import cancel, fix, jobs, show
from .commands.models import export, import_, models, predict
from .commands.train import Interrupted, train
from .errors import APIError, ServiceUnavailable, TooManyRequests


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli():
    """Train neural networks on the nnjobs service and get predictions from them.

    Exit codes: 0 success, 1 the job failed or was cancelled, 2 bad usage or a request
    the service refused, 3 the service cannot be reached, 130 interrupted.
    """


for command in (
    train,
    predict,
    jobs,
    models,
    export,
    import_,
    datasets,
    show,
    cancel,
    fix,
    activations,
):
    cli.add_command(command)


def fail(message: str, code: int, lines=(), as_json=False, error: dict | None = None) -> int:
    """One line on stderr (and, with --json, the error as the JSON document)."""
    if as_json:
        emit({"error": error or {"message": message}})
    err.print(f"error: {message}", markup=False, highlight=False)
    for line in lines:
        err.print(f"  {line}", markup=False, highlight=False)
    return code


def main(argv: list[str] | None = None) -> None:
    """The ``nnjobs`` console script."""
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in args
    try:
        code = cli.main(args=args, prog_name="nnjobs", standalone_mode=False)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code  # 2 for usage errors
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted")
        code = INTERRUPTED
    except Interrupted as e:
        err.print(str(e), markup=False)
        code = INTERRUPTED
    except ServiceUnavailable as e:
        code = fail(e.message, UNREACHABLE, as_json=as_json, error=error_document(e))
    except TooManyRequests as e:
        says = e.retry_after is None or "retry after" in e.message
        after = "" if says else f" (retry after {e.retry_after:g} s)"
        code = fail(e.message + after, USAGE, as_json=as_json, error=error_document(e))
    except APIError as e:
        extra = [line for line in e.field_errors if line not in e.message]
        code = USAGE if e.code is not None and 400 <= e.code < 500 else JOB_FAILED
        code = fail(e.message, code, extra, as_json=as_json, error=error_document(e))
    except Failed as e:
        code = fail(str(e), JOB_FAILED)
    except BrokenPipeError:
        code = OK  # handled below
    except (OSError, ValueError) as e:
        code = fail(str(e), USAGE, as_json=as_json)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # a reader that went away (`nnjobs jobs | head`) is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code if isinstance(code, int) else OK)


def error_document(e: APIError) -> dict:
    return {"code": e.code, "message": e.message, "errors": e.errors}


if __name__ == "__main__":
    main()

"""The ``flux2`` command: generate, batch, result, credits, models, mock, drift.

A thin layer over the public library: it parses arguments, calls :mod:`flux2`, and formats
what comes back. Exit codes (mapped in :mod:`flux2.cli._exit` only): 0 success, 1 an API or
task failure, 2 bad usage or bad input, 130 interrupted. Errors are one or two lines on stderr;
``--debug`` adds tracebacks and debug logging.

Layout: this module runs a command (:func:`main`: warnings, logging, errors to exit codes);
``_parser`` declares the arguments only; ``_commands`` does what each command does (read the
arguments, call the public API, print); ``_display`` shows live status on stderr; ``_exit``
holds the exit codes and is the one place an exception becomes a code and a message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from ._exit import FAILURE, USAGE, Outcome, classify, printable

__all__ = ["main"]


def _show_warning(  # noqa: PLR0917 (the signature warnings.showwarning has)
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"flux2: warning: {printable(str(message))}", file=sys.stderr)


def _report(outcome: Outcome, *, json_mode: bool) -> None:
    print(f"flux2: error: {printable(outcome.message)}", file=sys.stderr)
    if outcome.hint:
        print(f"  {printable(outcome.hint)}", file=sys.stderr)
    if json_mode and not outcome.json_printed:
        error = {
            "type": outcome.kind,
            "message": outcome.message,
            "hint": outcome.hint,
            "exit_code": outcome.code,
        }
        print(json.dumps({"error": error}, indent=2, ensure_ascii=False), flush=True)


@contextlib.contextmanager
def _logging(debug: bool) -> Iterator[None]:
    handler = logging.StreamHandler(sys.stderr)
    loggers = [logging.getLogger("flux2")]
    if debug:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        loggers.append(logging.getLogger("httpx"))
    else:
        # The library's warnings (an image whose format differs from its file name, an
        # unknown task status...) as one readable line each.
        handler.setFormatter(logging.Formatter("flux2: warning: %(message)s"))
        handler.setLevel(logging.WARNING)
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if debug:
            logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``flux2`` command with ``argv`` (default: ``sys.argv[1:]``); return its exit
    code."""
    from . import _commands
    from ._parser import build_parser, unused_options

    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error (code 2)
        return exc.code if isinstance(exc.code, int) else USAGE
    if rest:
        parser.print_usage(sys.stderr)
        print(f"flux2: error: unrecognized arguments: {' '.join(rest)}", file=sys.stderr)
        return USAGE
    unused = unused_options(args)
    if unused:
        parser.print_usage(sys.stderr)
        print(f"flux2: error: {args.command} does not use {', '.join(unused)}", file=sys.stderr)
        return USAGE

    handlers: dict[str, Callable[[Any], int]] = {
        "generate": _commands.cmd_generate,
        "batch": _commands.cmd_batch,
        "result": _commands.cmd_result,
        "credits": _commands.cmd_credits,
        "models": _commands.cmd_models,
        "mock": _commands.cmd_mock,
        "drift": _commands.cmd_drift,
    }
    json_mode = bool(getattr(args, "json", False)) or getattr(args, "format", None) == "json"
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        with _logging(args.debug):
            return handlers[args.command](args)
    except BrokenPipeError:
        # The reader went away (``flux2 models | head``): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return FAILURE
    except (Exception, KeyboardInterrupt) as exc:
        if args.debug:
            traceback.print_exc()
        outcome = classify(exc)
        _report(outcome, json_mode=json_mode)
        return outcome.code
    finally:
        warnings.showwarning = previous

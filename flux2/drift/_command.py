"""The drift check as a command: ``flux2 drift`` and ``scripts/check_drift`` share these options.

Exit codes as every ``flux2`` command: 0 nothing breaking, 1 breaking drift, 2 the check could
not run (a document that cannot be fetched, read or parsed), with one ``PROG: error: ...`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from ._load import LIVE_SPEC_URL, DriftInputError, load_document
from ._report import FORMATS, render_json, render_markdown, render_report

DESCRIPTION = (
    "Compare a BFL OpenAPI document with flux2's pinned spec and with what flux2 relies on; "
    "classify each difference as breaking, additive or cosmetic. Exit codes: 0 nothing "
    "breaking, 1 breaking drift, 2 the check could not run."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The drift check's options (and description, if it has none), on `parser`."""
    parser.description = parser.description or DESCRIPTION
    parser.add_argument(
        "--spec",
        default=LIVE_SPEC_URL,
        metavar="URL_OR_PATH",
        help=f"the candidate document (default: {LIVE_SPEC_URL})",
    )
    parser.add_argument(
        "--against",
        metavar="PATH",
        help="the baseline to compare with (default: flux2's pinned spec)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="text (default), json (a list of findings) or markdown (a pull request's description)",
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        default="-",
        help="write the report to this file (default: standard output)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the check for parsed `args`: 0 nothing breaking, 1 breaking.

    Raises :class:`DriftInputError` when a document cannot be read, before anything is
    written.
    """
    from flux2._spec import pinned_spec, pinned_spec_path

    from ._findings import exit_code
    from ._walk import compare

    if args.json and args.format not in (None, "json"):
        raise DriftInputError(f"--json and --format {args.format} disagree; give one")
    chosen = "json" if args.json else (args.format or "text")
    if args.against:
        baseline = load_document(args.against)
        baseline_name = str(args.against)
    else:
        try:
            baseline = pinned_spec()
        except FileNotFoundError as exc:
            raise DriftInputError(str(exc)) from None
        baseline_name = f"the pinned spec ({_shown(pinned_spec_path())})"
    candidate = load_document(args.spec)
    findings = compare(candidate, baseline)
    if chosen == "json":
        text = render_json(findings)
    elif chosen == "markdown":
        text = render_markdown(findings, candidate=str(args.spec), baseline=baseline_name)
    else:
        text = render_report(findings, candidate=str(args.spec), baseline=baseline_name)
    with _output(args.output) as out:
        print(text, file=out)
    return exit_code(findings)


def _shown(path: Path) -> Path:
    """`path` relative to the working directory when it lies below it: a report may be
    published (a pull request), and the machine's directories are no part of it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


@contextlib.contextmanager
def _output(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdout
        return
    try:
        with Path(path).open("w", encoding="utf-8") as out:
            yield out
    except OSError as exc:
        raise DriftInputError(f"could not write {path}: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None, *, prog: str = "flux2 drift") -> int:
    """``scripts/check_drift`` (and ``flux2.drift.main``): 0 nothing breaking, 1 breaking,
    2 could not run."""
    parser = argparse.ArgumentParser(prog=prog)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except DriftInputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2

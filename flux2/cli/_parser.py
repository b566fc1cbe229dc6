"""The ``flux2`` command line: arguments only (what each command does is in ``_commands``)."""

from __future__ import annotations

import argparse
from typing import Any

from flux2 import __version__
from flux2.batch import DEFAULT_CONCURRENCY

# Options of the connection to the API, by dest; commands that make no request take none.
CONNECTION_OPTIONS = {
    "api_key": "--api-key",
    "base_url": "--base-url",
    "max_retries": "--max-retries",
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors name the command and stay short."""

    def error(self, message: str) -> Any:
        self.print_usage()
        self.exit(2, f"{self.prog}: error: {message}\n")


def _global_options(
    parser: argparse.ArgumentParser, *, top: bool, connection: tuple[str, ...]
) -> None:
    # Given before or after the command name; the top level holds the defaults, and the
    # commands' copies default to SUPPRESS so they do not overwrite them. A command that
    # sends nothing to the API (api=False) takes no key or URL.
    default: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="debug logging on stderr, and tracebacks for errors",
    )
    if "api_key" in connection:
        group.add_argument(
            "--api-key",
            metavar="KEY",
            default=default,
            help="the BFL API key (default: $BFL_API_KEY)",
        )
    if "base_url" in connection:
        group.add_argument(
            "--base-url",
            metavar="URL",
            default=default,
            help="the API's base URL (default: $BFL_BASE_URL, else https://api.bfl.ai)",
        )
    if "max_retries" in connection:
        group.add_argument(
            "--max-retries",
            type=int,
            metavar="N",
            default=default,
            help="how many times a failed request is tried again, where that cannot pay "
            "twice (default 2)",
        )


def unused_options(args: argparse.Namespace) -> list[str]:
    """The connection options given (before the command name) to a command that does not use
    them: an option that does nothing is refused rather than ignored."""
    used = _COMMAND_CONNECTION.get(args.command, tuple(CONNECTION_OPTIONS))
    return [
        flag
        for dest, flag in CONNECTION_OPTIONS.items()
        if dest not in used and getattr(args, dest, None) is not None
    ]


_COMMAND_CONNECTION: dict[str, tuple[str, ...]] = {
    # models reads the pinned spec; mock serves (its --api-key is the key it accepts); drift
    # compares documents.
    "models": (),
    "mock": ("api_key",),
    "drift": (),
}


def _mock_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mock",
        action="store_true",
        help="run against a local emulator started in this process (no key or network "
        "needed; images are drawn locally)",
    )


def _json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON object")


def _models_with(param: str) -> str:
    """The models whose request schema in the pinned spec has ``param``, for help texts."""
    from flux2 import registry

    names = [m.name for m in registry.all_models().values() if param in m.params]
    return ", ".join(names) if names else "no model"


def _allowed(param: str) -> str:
    """What the pinned spec allows for ``param`` (the first model that has it)."""
    from flux2 import registry

    for model in registry.all_models().values():
        if param in model.params:
            return model.params[param].describe_allowed()
    return "not offered by any model"


def _generation_options(parser: argparse.ArgumentParser, *, batch: bool) -> None:
    from flux2 import registry

    scope = " (default for every line; a line's own value wins)" if batch else ""
    models = ", ".join(registry.all_models())
    group = parser.add_argument_group(
        "generation options",
        "Checked against the model's parameters in the pinned API spec; 'flux2 models' "
        "lists them with their ranges.",
    )
    group.add_argument("-m", "--model", help=f"one of {models}{scope} [{registry.DEFAULT_MODEL}]")
    group.add_argument("--width", type=int, metavar="PX", help=f"output width in pixels{scope}")
    group.add_argument("--height", type=int, metavar="PX", help=f"output height in pixels{scope}")
    group.add_argument("--seed", type=int, help=f"seed, for repeatable results{scope}")
    group.add_argument(
        "--format",
        dest="output_format",
        metavar="FORMAT",
        help=f"output image format: {_allowed('output_format')}{scope}",
    )
    group.add_argument(
        "--guidance", type=float, help=f"guidance scale ({_models_with('guidance')}){scope}"
    )
    group.add_argument(
        "--steps", type=int, help=f"inference steps ({_models_with('steps')}){scope}"
    )
    group.add_argument(
        "--safety-tolerance",
        type=int,
        metavar="N",
        help=f"moderation tolerance: {_allowed('safety_tolerance')}{scope}",
    )
    group.add_argument(
        "--no-upsampling",
        action="store_true",
        help="send the prompt as written, without prompt upsampling "
        f"({_models_with('prompt_upsampling')}){scope}",
    )
    group.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other request parameter of the model (VALUE is read as JSON when it "
        "parses, else as text); repeatable",
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="give up waiting for a task after this long (default 600)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="flux2",
        description="Generate and edit images with Black Forest Labs' FLUX.2 API.",
        epilog='Try it without a key: flux2 generate "a lighthouse at dawn" --mock -o '
        "lighthouse.jpg. Exit codes: 0 success, 1 API or task failure, 2 bad usage or input, "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"flux2 {__version__}")
    _global_options(parser, top=True, connection=tuple(CONNECTION_OPTIONS))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def command(name: str, help_text: str, description: str | None = None) -> Any:
        sub = commands.add_parser(name, help=help_text, description=description or help_text)
        connection = _COMMAND_CONNECTION.get(name, tuple(CONNECTION_OPTIONS))
        _global_options(sub, top=False, connection=connection)
        return sub

    generate = command(
        "generate",
        "generate (or, with --image, edit) one image and save it",
        "Generate an image, or edit input images, wait for it with live status, save it, and "
        "print where, the seed and the cost.",
    )
    generate.add_argument("prompt", metavar="PROMPT", help="what to draw (or how to edit)")
    generate.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        default=".",
        help="file to write, or a directory to name the file after the task (default: the "
        "current directory); a .png/.webp/.jpg extension also picks --format",
    )
    generate.add_argument(
        "-i",
        "--image",
        action="append",
        default=[],
        metavar="PATH_OR_URL",
        help="an input image to edit or take as reference (a file or an http(s) URL); "
        "repeat for several",
    )
    generate.add_argument(
        "--dry-run",
        action="store_true",
        help="check the request and print what would be sent and what it would cost "
        "(BFL's per-megapixel prices); send nothing, no key needed",
    )
    _generation_options(generate, batch=False)
    _mock_option(generate)
    _json_option(generate, "the result")

    batch = command(
        "batch",
        "generate many images from a file of prompts; resumable",
        "Generate one image per line of FILE (a prompt, or a JSON object of parameters such "
        'as {"prompt": "...", "model": "klein-4b", "seed": 7}) into DIR, with at most N tasks '
        "in flight. DIR/manifest.jsonl records every task before it is waited for: run the "
        "same command again after an interruption and it resumes, never submitting again what "
        "may have created a task unless asked to (--retry-failed, --resubmit-uncertain). "
        "DIR/index.html shows the results.",
    )
    batch.add_argument("file", metavar="FILE", help="the prompts: text or JSONL, one a line")
    batch.add_argument(
        "-o",
        "--output",
        "--out",
        dest="output",
        required=True,
        metavar="DIR",
        help="where images, manifest and gallery go",
    )
    batch.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"tasks in flight at once (default {DEFAULT_CONCURRENCY}; more than "
        "--max-in-flight is lowered to it)",
    )
    batch.add_argument(
        "--max-in-flight",
        type=int,
        metavar="N",
        help="the account's limit on tasks in flight (default: the documented 24); raise it "
        "only if BFL raised your account's limit",
    )
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="submit again the items whose task ended without an image (moderated, failed, "
        "expired); each is a new, paid task. Items the API refused are always sent again; "
        "uncertain ones never (see --resubmit-uncertain)",
    )
    batch.add_argument(
        "--resubmit-uncertain",
        action="store_true",
        help="submit again the items whose earlier submission may or may not have reached the "
        "API (this may pay twice for them)",
    )
    _generation_options(batch, batch=True)
    _mock_option(batch)
    _json_option(batch, "a summary")

    result = command(
        "result",
        "fetch a submitted task's image (waits while it runs)",
        "Wait for a task submitted earlier and save its image. Give its polling URL (tasks "
        "live on regional clusters that only the polling URL reaches) or its id.",
    )
    result.add_argument("task", metavar="TASK_ID_OR_POLLING_URL")
    result.add_argument(
        "-o", "--output", metavar="PATH", default=".", help="file or directory to write"
    )
    result.add_argument(
        "--no-wait", action="store_true", help="print the task's status once; download nothing"
    )
    result.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up waiting after this long"
    )
    _json_option(result, "the result")

    credits = command("credits", "show the account's credit balance")
    _mock_option(credits)
    _json_option(credits, "the balance")

    models = command(
        "models",
        "list the models, their prices and their parameters, with ranges",
        "The FLUX.2 models and their request parameters, read from the pinned API spec, with "
        "BFL's published per-megapixel prices.",
    )
    models.add_argument("model", nargs="?", metavar="MODEL", help="show only this model")
    _json_option(models, "the models")

    mock = command(
        "mock",
        "run the local BFL API emulator until Ctrl-C",
        "Serve the local emulator of the BFL API (submit, polling, results, credits) and "
        "print its URL; point a client at it with --base-url or BFL_BASE_URL.",
    )
    mock.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    mock.add_argument("--port", type=int, default=0, help="API port (default: any free port)")
    mock.add_argument(
        "--speed",
        type=float,
        default=None,
        help="multiplies the simulated generation times (0 = ready at once)",
    )
    mock.add_argument(
        "--profile",
        default=None,
        # flux2.emulator.PROFILES, written out: importing it would slow every command.
        choices=("steady", "expected", "faster", "slower", "wide"),
        help="how generation times are drawn (default steady: each model's figure exactly)",
    )
    mock.add_argument("--seed", type=int, default=None, help="seed of the timing draws")
    mock.add_argument("--credits", type=float, default=None, help="the starting credit balance")
    mock.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[=ARG]",
        help="a server-wide fault to inject (see the emulator's documentation); repeatable",
    )

    # The options are the drift check's own (scripts/check_drift has the same).
    from flux2 import drift as _drift

    drift = commands.add_parser("drift", help="compare a BFL OpenAPI document with the pinned spec")
    _drift.add_arguments(drift)
    _global_options(drift, top=False, connection=_COMMAND_CONNECTION["drift"])
    return parser

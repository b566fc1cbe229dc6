"""What each ``flux2`` command does: read the arguments, call the public API, print."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from flux2 import (
    Client,
    Flux2Error,
    GeneratedImage,
    NotFoundError,
    PollSchedule,
    Task,
    TaskNotFoundError,
    TaskTimeoutError,
    UntrustedHostError,
)
from flux2._arguments import url_problem
from flux2.batch import format_credits
from flux2.downloads import FORMAT_SUFFIXES, format_of_suffix

from ._display import BatchProgress, TaskStatus
from ._exit import FAILURE, OK, CommandFailed, Interrupted, UsageError, classify, printable

if TYPE_CHECKING:
    from flux2.batch import BatchItem, BatchSummary
    from flux2.emulator import Emulator

# The key the in-process emulator is given and accepts; it is never a real one.
MOCK_API_KEY: Final = "mock-key"
# Simulated generation times under --mock, as a fraction of the live ones: the demo shows its
# live status for a moment (flex takes about 8 s live [seen]) without making anyone wait.
MOCK_SPEED: Final = 0.25
# Scales the poll schedule, to follow an emulator run at a --speed other than 1 (the schedule
# is fitted to live generation times).
POLL_SCALE_ENV: Final = "FLUX2_POLL_SCALE"


def out(text: str = "") -> None:
    print(printable(text), file=sys.stdout, flush=True)


def emit_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), file=sys.stdout, flush=True)


# -- client and emulator --------------------------------------------------------------------


def _needs_extra(exc: ImportError) -> UsageError:
    return UsageError(
        f"the local emulator needs the 'emulator' extra ({exc.name or exc} is missing)",
        "install it with: pip install 'flux2[emulator]'",
    )


@contextlib.contextmanager
def emulator(*, api_key: str, speed: float) -> Iterator[Emulator]:
    """The local emulator (extra ``emulator``), started in this process."""
    try:
        from flux2.emulator import Emulator
    except ImportError as exc:
        raise _needs_extra(exc) from None
    with Emulator(api_key, speed=speed) as server:
        yield server


def _poll_scale() -> float | None:
    text = os.environ.get(POLL_SCALE_ENV, "").strip()
    if not text:
        return None
    try:
        scale = float(text)
    except ValueError:
        scale = -1.0
    if not 0 <= scale <= 1:
        raise UsageError(f"{POLL_SCALE_ENV} must be a number from 0 to 1, got {text!r}")
    return scale


def _retries(args: argparse.Namespace) -> dict[str, Any]:
    retries = getattr(args, "max_retries", None)
    if retries is None:
        return {}
    if retries < 0:
        raise UsageError(f"--max-retries must be 0 or more, got {retries}")
    return {"max_retries": retries}


@contextlib.contextmanager
def connection(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The client settings to use: key and base URL from the arguments or the environment,
    or (``--mock``) those of an emulator running for the duration of the block."""
    scale = _poll_scale()
    if getattr(args, "mock", False):
        if args.base_url:
            raise UsageError("--mock and --base-url exclude each other")
        with emulator(api_key=MOCK_API_KEY, speed=MOCK_SPEED) as server:
            yield {
                "api_key": MOCK_API_KEY,
                "base_url": str(server.base_url),
                "poll_schedule": PollSchedule(scale=MOCK_SPEED if scale is None else scale),
                **_retries(args),
            }
        return
    if not (args.api_key or os.environ.get("BFL_API_KEY", "").strip()):
        raise UsageError(
            "no API key: set BFL_API_KEY or pass --api-key",
            "or try flux2 without a key against the local emulator: add --mock",
        )
    options: dict[str, Any] = {"api_key": args.api_key, "base_url": args.base_url}
    options.update(_retries(args))
    if scale is not None:
        options["poll_schedule"] = PollSchedule(scale=scale)
    yield options


@contextlib.contextmanager
def api_client(args: argparse.Namespace) -> Iterator[Client]:
    with connection(args) as options, Client(**options) as client:
        yield client


# -- generation parameters ------------------------------------------------------------------


def _param_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _extra_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param expects NAME=VALUE, got {pair!r}")
        params[name.strip()] = _param_value(value)
    return params


def _upsampling_off(model: str | None) -> dict[str, Any]:
    """The request field that turns prompt upsampling off for ``model``: flex has
    ``prompt_upsampling`` (spec); later specs give pro/max ``disable_pup`` [doc]. A model with
    neither gets ``prompt_upsampling=False``, which the library rejects with the reason."""
    from flux2 import registry

    try:
        params = registry.get_model(model or registry.DEFAULT_MODEL).params
    except ValueError:
        params = {}
    if "disable_pup" in params and "prompt_upsampling" not in params:
        return {"disable_pup": True}
    return {"prompt_upsampling": False}


def generation_params(args: argparse.Namespace) -> dict[str, Any]:
    """The generate() keywords the options set (``None`` for options not given)."""
    params: dict[str, Any] = {
        "model": args.model,
        "width": args.width,
        "height": args.height,
        "seed": args.seed,
        "output_format": args.output_format,
        "guidance": args.guidance,
        "steps": args.steps,
        "safety_tolerance": args.safety_tolerance,
    }
    params.update(_extra_params(args.param))
    return {name: value for name, value in params.items() if value is not None}


def output_target(
    path_text: str, params: dict[str, Any], *, model: str | None = None, generating: bool = True
) -> Path:
    """Check where the image will go before anything is sent, and let a file extension pick
    the output format when ``--format`` was not given: an image is never written under an
    extension its format contradicts, and a format the model cannot make is refused before
    anything is paid for."""
    target = Path(path_text).expanduser()
    if target.is_dir() or path_text.endswith(("/", os.sep)):
        if target.exists() and not os.access(target, os.W_OK):
            raise UsageError(f"cannot write to directory {target}")
        if not target.exists():
            if not target.parent.is_dir():
                raise UsageError(f"cannot write to {path_text}: {target.parent} does not exist")
            target.mkdir()
        return target
    parent = target.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {target}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"cannot write {target}: directory {parent} is not writable")
    implied = format_of_suffix(target.suffix)
    if implied is not None and generating:
        offered = _output_formats(model)
        if offered and implied not in offered:
            raise UsageError(
                f"-o {target.name} asks for a {implied} file, but the model makes only "
                f"{', '.join(offered)}",
                f"name the file .{_suffix_of(offered[0])} or pass --format",
            )
    chosen = params.get("output_format")
    if implied and chosen is None:
        params["output_format"] = implied
    elif implied and chosen is not None and str(chosen).lower() != implied:
        raise UsageError(
            f"-o {target.name} asks for a {implied} file, but --format is {chosen}",
            "drop one of them, or make them agree",
        )
    return target


def _output_formats(model: str | None) -> tuple[str, ...]:
    """The output formats the pinned spec offers for ``model`` (empty when it says none)."""
    from flux2 import registry

    try:
        param = registry.get_model(model or registry.DEFAULT_MODEL).params.get("output_format")
    except Flux2Error:
        return ()  # an unknown model is reported by the request itself
    return tuple(str(v) for v in (param.enum or ())) if param is not None else ()


def _suffix_of(fmt: str) -> str:
    return FORMAT_SUFFIXES.get(fmt, (f".{fmt}",))[0].lstrip(".")


# -- generate and result --------------------------------------------------------------------


def _image_json(image: GeneratedImage, path: Path) -> dict[str, Any]:
    task = image.task
    return {
        "path": str(path.resolve()),
        "task_id": task.id,
        "polling_url": task.polling_url,
        "model": task.model,
        "seed": image.seed,
        "cost": task.cost,
        "prompt": image.prompt,
        "duration": image.result.duration,
    }


def _print_image(image: GeneratedImage, path: Path, *, json_mode: bool) -> None:
    if json_mode:
        emit_json(_image_json(image, path))
        return
    out(f"Saved {path}")
    facts = []
    if image.model:
        facts.append(f"model {image.model}")
    if image.seed is not None:
        facts.append(f"seed {image.seed}")
    if image.cost is not None:
        facts.append(f"cost {format_credits(image.cost)}")
    facts.append(f"task {image.task_id}")
    out("  " + " · ".join(facts))


def _resume_hint(task: Task, running: bool = True, *, by_id: bool = False) -> str:
    # A polling URL that was refused is not worth suggesting: the id is all that is left.
    target = task.id if by_id or not task.polling_url else task.polling_url
    state = "the task keeps running" if running else f"task {task.id} was submitted and billed"
    return f"{state}; fetch its image with: flux2 result '{target}'"


def _wait_and_save(
    client: Client,
    task: Task,
    target: Path,
    status: TaskStatus,
    timeout: float | None,
    *,
    submitted: bool = False,
) -> tuple[GeneratedImage, Path]:
    """Wait for ``task`` and save its image. ``submitted``: this command created the task, so
    whatever fails now (a URL the service sent, the disk) is no usage error, and the task is
    named with how to fetch its image without paying again."""
    try:
        image = client.wait(task, timeout=timeout, on_progress=status)
        return image, image.save(target)
    except KeyboardInterrupt:
        raise Interrupted("interrupted while waiting", _resume_hint(task)) from None
    except TaskTimeoutError as exc:
        raise CommandFailed(str(exc), FAILURE, _resume_hint(task)) from exc
    except Exception as exc:
        if not submitted:
            raise
        outcome = classify(exc)
        message = outcome.message
        if task.id not in message:
            message = f"task {task.id}: {message}"
        refused = isinstance(exc, UntrustedHostError) or (
            task.polling_url is not None and url_problem(task.polling_url) is not None
        )
        resume = _resume_hint(task, False, by_id=refused)
        hints = [h for h in (outcome.hint, resume) if h]
        raise CommandFailed(message, FAILURE, "; ".join(hints)) from exc


def cmd_generate(args: argparse.Namespace) -> int:
    params = generation_params(args)
    model = params.pop("model", None)
    if args.no_upsampling:
        params.update(_upsampling_off(model))
    target = output_target(args.output, params, model=model)
    if model is not None:
        params["model"] = model
    if args.dry_run:
        return _dry_run(args, params)
    label = model or "flex"
    with api_client(args) as client, TaskStatus(label, live=not args.json) as status:
        try:
            task = client.submit(args.prompt, images=args.image or None, **params)
        except KeyboardInterrupt:
            raise Interrupted(
                "interrupted while submitting",
                "the task may have been created and billed; 'flux2 credits' shows the balance",
            ) from None
        status.submitted(task.id, task.cost)
        image, path = _wait_and_save(client, task, target, status, args.timeout, submitted=True)
    _print_image(image, path, json_mode=args.json)
    return OK


def _dry_run(args: argparse.Namespace, params: dict[str, Any]) -> int:
    from flux2.pricing import estimate

    found = estimate(args.prompt, images=args.image or None, base_url=args.base_url, **params)
    if args.json:
        emit_json(found.to_dict())
        return OK
    out(f"Would send {found.method} {found.url}")
    out(json.dumps(dict(found.body), indent=2, ensure_ascii=False))
    out(found.cost_text)
    for note in found.notes:
        out(f"note: {note}")
    out("Nothing was sent (--dry-run).")
    return OK


@contextlib.contextmanager
def _polling_url_hint(by_id: bool) -> Iterator[None]:
    """A task the API does not know, asked for by id: it may live on a regional cluster that
    only its polling URL reaches [doc]."""
    try:
        yield
    except (NotFoundError, TaskNotFoundError) as exc:
        if not by_id:
            raise
        raise CommandFailed(
            str(exc),
            FAILURE,
            "tasks live on regional clusters that only their polling URL reaches: pass the "
            "polling URL the submission answered (flux2 result 'https://...get_result?id=...')",
        ) from exc


def cmd_result(args: argparse.Namespace) -> int:
    target_text = args.task.strip()
    by_id = not target_text.lower().startswith(("http://", "https://"))
    with api_client(args) as client, _polling_url_hint(by_id):
        task = Task(id=target_text) if by_id else Task.from_polling_url(target_text)
        if args.no_wait:
            result = client.get_result(task)
            if args.json:
                emit_json(
                    {
                        "task_id": result.id,
                        "status": result.status,
                        "progress": result.progress,
                        "seed": result.seed,
                        "error": result.error,
                        "ready": result.ready,
                    }
                )
            else:
                out(str(result))
            return OK
        target = output_target(args.output, {}, generating=False)
        with TaskStatus(f"task {task.id}", live=not args.json) as status:
            image, path = _wait_and_save(client, task, target, status, args.timeout)
    _print_image(image, path, json_mode=args.json)
    return OK


def cmd_credits(args: argparse.Namespace) -> int:
    with api_client(args) as client:
        balance = client.credits()
    if args.json:
        emit_json({"credits": balance, "usd": round(balance / 100, 4)})
    else:
        out(format_credits(balance))
    return OK


# -- models ---------------------------------------------------------------------------------


def _price_json(name: str) -> dict[str, float] | None:
    from flux2.pricing import price_of

    price = price_of(name)
    if price is None:
        return None
    return {"first_mp_credits": price.first_mp, "further_mp_credits": price.further_mp}


def _price_line(name: str) -> str:
    from flux2.pricing import price_caveat, price_of

    price = price_of(name)
    caveat = price_caveat(name)
    if price is None:
        return f"price: unknown ({caveat})"
    line = (
        f"price: {price.first_mp:g} credits for the first megapixel, {price.further_mp:g} for "
        "each further output or input megapixel (1 credit = $0.01)"
    )
    return f"{line}; {caveat}" if caveat else line


def _model_json(model: Any) -> dict[str, Any]:
    return {
        "name": model.name,
        "endpoint": model.endpoint,
        "path": model.path,
        "summary": model.summary,
        "max_input_images": model.max_images,
        "price": _price_json(model.name),
        "parameters": {
            name: {
                "allowed": param.describe_allowed(),
                "types": list(param.types),
                "nullable": param.nullable,
                "minimum": param.minimum,
                "maximum": param.maximum,
                "enum": list(param.enum) if param.enum is not None else None,
                "default": param.default,
                "has_default": param.has_default,
            }
            for name, param in model.options.items()
        },
    }


def cmd_models(args: argparse.Namespace) -> int:
    from flux2 import registry

    models: list[Any] = list(registry.all_models().values())
    if args.model:
        try:
            models = [registry.get_model(args.model)]
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        emit_json({"models": [_model_json(m) for m in models]})
        return OK
    for number, model in enumerate(models):
        if number:
            out()
        out(f"{model.name}  ({model.endpoint})  {model.summary}")
        out(f"  input images: up to {model.max_images}")
        out(f"  {_price_line(model.name)}")
        rows = [
            (
                name,
                param.describe_allowed(),
                f"default {json.dumps(param.default)}" if param.has_default else "",
            )
            for name, param in model.options.items()
        ]
        width = max((len(r[0]) for r in rows), default=0)
        for name, allowed, default in rows:
            out(f"  {name:<{width}}  {allowed}{'; ' + default if default else ''}")
    return OK


# -- mock and drift -------------------------------------------------------------------------


def cmd_mock(args: argparse.Namespace) -> int:
    try:
        from flux2.emulator import FaultError, parse_fault, serve
    except ImportError as exc:
        raise _needs_extra(exc) from None
    try:
        faults = [parse_fault(text) for text in args.fault]
    except FaultError as exc:
        raise UsageError(str(exc)) from None
    options: dict[str, Any] = {}
    if args.speed is not None:
        options["speed"] = args.speed
    if args.credits is not None:
        options["credits"] = args.credits
    if args.profile is not None:
        options["profile"] = args.profile
    if args.seed is not None:
        options["seed"] = args.seed
    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve(
                args.host,
                args.port,
                api_key=args.api_key,
                faults=[f.spec for f in faults],
                poll_scale_env=POLL_SCALE_ENV,
                **options,
            )
    except ValueError as exc:  # the emulator's own check of --speed, --credits, ...
        raise UsageError(str(exc)) from None
    return OK


def cmd_drift(args: argparse.Namespace) -> int:
    from flux2 import drift

    try:
        return drift.run(args)  # 0 nothing breaking, 1 breaking: the report says which
    except drift.DriftInputError as exc:
        raise UsageError(str(exc)) from None


# -- batch ----------------------------------------------------------------------------------


def _batch_items(args: argparse.Namespace) -> list[BatchItem]:
    from flux2.batch import make_items, read_items, validate_items

    defaults = generation_params(args)
    items = read_items(args.file, defaults)
    if args.no_upsampling:
        entries: list[Mapping[str, Any]] = []
        for item in items:
            params = dict(item.params)
            for name, value in _upsampling_off(params.get("model")).items():
                params.setdefault(name, value)
            entries.append(params)
        items = make_items(entries, lines=[item.line for item in items])
    validate_items(items)
    return items


def _print_summary(summary: BatchSummary) -> None:
    parts = [f"{summary.images} of {summary.total} images in {summary.directory}"]
    if summary.already_done:
        parts.append(f"{len(summary.done)} new, {summary.already_done} done before")
    if summary.submitted:
        parts.append(f"{len(summary.submitted)} submitted for {format_credits(summary.spent)}")
    out("; ".join(parts))
    if summary.gallery:
        out(f"Gallery: {summary.gallery}")


def _report_problems(summary: BatchSummary) -> None:
    for state in summary.failed:
        print(printable(f"failed    {state.where}: {state.error or state.phase}"), file=sys.stderr)
    for state in summary.uncertain:
        print(printable(f"uncertain {state.where}: {state.error}"), file=sys.stderr)


def _in_flight_limit(args: argparse.Namespace) -> dict[str, Any]:
    """The client's limit on tasks in flight: the account's (the library's default) unless
    --max-in-flight raises it; --concurrency never does (the batch lowers it, with a notice)."""
    if args.max_in_flight is None:
        return {}
    if args.max_in_flight < 1:
        raise UsageError(f"--max-in-flight must be at least 1, got {args.max_in_flight}")
    return {"max_concurrency": args.max_in_flight}


def cmd_batch(args: argparse.Namespace) -> int:
    from flux2.batch import BatchInterrupted, run_batch

    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {args.concurrency}")
    limit = _in_flight_limit(args)
    items = _batch_items(args)
    target = Path(args.output).expanduser()
    if target.exists() and not target.is_dir():
        raise UsageError(f"--output {target} exists and is not a directory")
    interrupted = False
    with connection(args) as options, BatchProgress(live=not args.json) as progress:
        try:
            summary = run_batch(
                items,
                target,
                concurrency=args.concurrency,
                on_event=progress,
                resubmit_uncertain=args.resubmit_uncertain,
                retry_failed=args.retry_failed,
                timeout=args.timeout,
                **limit,
                **options,
            )
        except BatchInterrupted as stop:
            summary, interrupted = stop.summary, True
    if args.json:
        emit_json({**summary.to_dict(), "ok": summary.ok and not interrupted})
    else:
        _print_summary(summary)
        _report_problems(summary)
    if interrupted:
        raise Interrupted(
            f"interrupted; {summary.images} of {summary.total} images done",
            "resume with the same command (nothing submitted is submitted again)",
            json_printed=args.json,
        )
    problems: list[str] = []
    hints: list[str] = []
    if summary.uncertain:
        problems.append(
            f"{len(summary.uncertain)} item(s) may have been submitted without their task id "
            "arriving; they were not submitted again"
        )
        hints.append("check 'flux2 credits'; --resubmit-uncertain submits them again")
    if summary.failed:
        problems.append(
            f"{len(summary.failed)} of {summary.total} item(s) failed (see {target}/index.html)"
        )
        hints.append("--retry-failed submits again those whose task ended without an image")
    if problems:
        raise CommandFailed("; ".join(problems), hint="; ".join(hints), json_printed=args.json)
    return OK

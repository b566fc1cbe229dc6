"""The suite survives re-pinning: a copy of the project is re-pinned to every spec of the history
and to synthetic future specs, and the tests marked ``repin`` run there, with no code change.

Each copy goes through what the scheduled regeneration does (.github/workflows/regenerate.yml):
the drift check against the copy's pin, then ``scripts/regenerate --spec FILE``, then the tests.
A spec that is breaking for flux2 must stop at the drift check, with an explanation naming what
broke; any other must leave the re-pinned copy green. The synthetic specs are small JSON-patch
edits of the pin, so they follow it when it moves.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "openapi" / "history"
PIN = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
COPIED = ("flux2", "generated", "openapi", "scripts", "tests", "pyproject.toml", "README.md")
# Two copies at a time: the machine the suite is written for has two cores.
WORKERS = 2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

Op = tuple[str, str, Any]


def _pointer(path: str) -> list[Any]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]
    return [int(p) if p.isdigit() else p for p in parts]


def apply_patch(document: dict[str, Any], ops: Sequence[Op]) -> dict[str, Any]:
    """``document`` edited by JSON-patch-like operations: ``(op, path, value)`` where op is add,
    replace, remove or copy (then value is the pointer copied from)."""
    out = copy.deepcopy(document)
    for op, path, value in ops:
        *parents, last = _pointer(path)
        node: Any = out
        for part in parents:
            node = node[part]
        if op == "remove":
            del node[last]
            continue
        new = value
        if op == "copy":
            new = out
            for part in _pointer(value):
                new = new[part]
        elif op == "replace" and not (
            last in node if isinstance(node, dict) else 0 <= last < len(node)
        ):
            raise KeyError(f"replace of a missing member {path}")
        node[last] = copy.deepcopy(new)
    return out


def _new_model(name: str, schema: str, like: str, schema_like: str) -> list[Op]:
    """Ops adding ``POST /v1/flux-2-NAME`` with request schema SCHEMA, copied from LIKE."""
    path = f"/paths/~1v1~1flux-2-{name}"
    snake = name.replace("-", "_")
    return [
        ("copy", f"/components/schemas/{schema}", f"/components/schemas/{schema_like}"),
        ("replace", f"/components/schemas/{schema}/title", schema),
        ("copy", path, f"/paths/~1v1~1flux-2-{like}"),
        ("replace", f"{path}/post/operationId", f"generate_flux_2_{snake}_v1_flux_2_{snake}_post"),
        ("replace", f"{path}/post/summary", f"Generate with FLUX.2 [{name}]"),
        (
            "replace",
            f"{path}/post/requestBody/content/application~1json/schema",
            {"$ref": f"#/components/schemas/{schema}"},
        ),
    ]


EDIT = "/components/schemas/Flux2EditInputs"
KLEIN_1B = "/components/schemas/Flux2Klein1bInputs"
FLEX = "/components/schemas/Flux2FlexInputs"

VARIANTS: dict[str, list[Op]] = {
    # An editing model: the request requires an input image and has defaults of its own.
    "new-model-requiring-an-image": [
        *_new_model("edit", "Flux2EditInputs", "flex", "Flux2FlexInputs"),
        ("replace", f"{EDIT}/required", ["prompt", "input_image"]),
        ("replace", f"{EDIT}/properties/input_image", {"type": "string", "title": "Input Image"}),
        ("replace", f"{EDIT}/properties/output_format/default", "png"),
        ("replace", f"{EDIT}/properties/steps/default", 28),
    ],
    "new-model-without-width-and-height": [
        *_new_model("klein-1b", "Flux2Klein1bInputs", "klein-4b", "Flux2KleinInputs"),
        ("remove", f"{KLEIN_1B}/properties/width", None),
        ("remove", f"{KLEIN_1B}/properties/height", None),
    ],
    "new-optional-field": [
        (
            "add",
            f"{FLEX}/properties/style_strength",
            {
                "anyOf": [{"type": "number", "minimum": 0.0, "maximum": 1.0}, {"type": "null"}],
                "default": 0.5,
                "title": "Style Strength",
            },
        ),
    ],
    "removed-field": [("remove", f"{FLEX}/properties/guidance", None)],
    "tightened-range": [("replace", f"{FLEX}/properties/steps/anyOf/0/maximum", 40.0)],
}

# What a spec breaks for flux2, in words the drift check's explanation must contain.
BREAKING: dict[str, tuple[str, ...]] = {
    "2026-03-20.json": ("webp", "x-key"),
    "2026-03-25.json": ("x-key",),
    "removed-field": ("guidance",),
    "tightened-range": ("steps",),
}

# Per target, a program run in the re-pinned copy that uses what the new spec brings.
_IN_COPY_PRELUDE = """
import sys
import flux2
from flux2.emulator import Emulator
emu = Emulator(api_key="k", speed=0.002).start()
schedule = flux2.PollSchedule(scale=0.002)
client = flux2.Client(api_key="k", base_url=emu.base_url, poll_schedule=schedule)
"""
PROBES: dict[str, str] = {
    "new-model-requiring-an-image": """
import subprocess
from PIL import Image
from flux2.registry import get_model
edit = get_model("edit")
assert set(edit.required) == {"prompt", "input_image"}, edit.required
assert edit.params["steps"].default == 28
try:
    client.generate("the same, at night", model="edit")
except flux2.InputError as exc:
    assert "input_image" in str(exc) and "images=" in str(exc), exc
else:
    sys.exit("a call without the required input image was sent")
assert emu.requests == []
Image.new("RGB", (64, 64), (200, 80, 10)).save("in.png")
image = client.generate("the same, at night", model="edit", images=["in.png"])
assert image.content[:4] == b"\\x89PNG", "the model's own default format"
command = [sys.executable, "-m", "flux2", "generate", "the same, in snow", "-m", "edit",
           "--image", "in.png", "--mock", "-o", "out.png"]
done = subprocess.run(command, capture_output=True, text=True, check=False)
assert done.returncode == 0, done.stdout + done.stderr
with Image.open("out.png") as made:
    assert made.format == "PNG", made.format
""",
    "new-model-without-width-and-height": """
try:
    client.generate("a small fox", model="klein-1b", width=512)
except flux2.InputError as exc:
    assert "width" in str(exc), exc
else:
    sys.exit("width was accepted by a model without it")
assert emu.submissions() == []
image = client.generate("a small fox", model="klein-1b")
assert image.content[:3] == b"\\xff\\xd8\\xff"
""",
    "new-optional-field": """
image = client.generate("a styled fox", model="flex", style_strength=0.25)
(made,) = emu.submissions()
assert made.params["style_strength"] == 0.25 and made.unknown_fields == (), made
try:
    client.generate("a styled fox", model="flex", style_strength=2)
except flux2.InputError as exc:
    assert "style_strength" in str(exc) and "from 0 to 1" in str(exc), exc
else:
    sys.exit("style_strength=2 was accepted")
""",
}


@attrs.frozen
class Outcome:
    stage: str  # "drift" when the drift check stopped it, "tests" otherwise
    ok: bool
    output: str


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BFL_", "FLUX2_", "PYTEST"))}
    env.update(
        FLUX2_NO_BOOTSTRAP="1",
        PYTHONPATH=os.pathsep.join([str(cwd), str(cwd / "generated")]),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _project_copy(where: Path) -> Path:
    where.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache", ".venv")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, where / name, ignore=ignore)
        else:
            shutil.copy(source, where / name)
    return where


def repin(workdir: Path, spec: Path, probe: str | None) -> Outcome:
    """The scheduled regeneration's steps, in a copy of the project re-pinned to `spec`."""
    repo = _project_copy(workdir / "repo")
    py = sys.executable
    drift = _run([py, "scripts/check_drift", "--spec", str(spec)], repo)
    if drift.returncode != 0:
        return Outcome("drift", False, drift.stdout + drift.stderr)
    steps: list[list[str]] = [
        [py, "scripts/regenerate", "--spec", str(spec)],
        [py, "-m", "pytest", "-m", "repin", "-q", "-p", "no:cacheprovider", "--tb=short"],
    ]
    if probe is not None:
        steps.append([py, "-c", _IN_COPY_PRELUDE + probe + "\nclient.close(); emu.stop()\n"])
    output = ""
    for argv in steps:
        done = _run(argv, repo)
        output += f"$ {' '.join(argv[1:])}\n{done.stdout}{done.stderr}"
        if done.returncode != 0:
            return Outcome("tests", False, output)
    return Outcome("tests", True, output)


def _targets(tmp: Path) -> dict[str, Path]:
    targets = {path.name: path for path in sorted(HISTORY.glob("*.json"))}
    for name, ops in VARIANTS.items():
        path = tmp / "specs" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(apply_patch(PIN, ops), indent=2), encoding="utf-8")
        targets[name] = path
    return targets


TARGETS = [path.name for path in sorted(HISTORY.glob("*.json"))] + list(VARIANTS)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    tmp = tmp_path_factory.mktemp("repin")
    targets = _targets(tmp)
    pinned = (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")

    def one(name: str) -> Outcome:
        spec = targets[name]
        if json.loads(spec.read_text(encoding="utf-8")) == json.loads(pinned):
            # The pin itself: the suite around this test is that run.
            return Outcome("tests", True, "the pinned spec")
        return repin(tmp / name, spec, PROBES.get(name))

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        yield dict(zip(TARGETS, pool.map(one, TARGETS), strict=True))


@pytest.mark.parametrize("target", TARGETS)
def test_a_repinned_copy_stays_green_unless_the_drift_check_explains_why(
    outcomes: dict[str, Outcome], target: str
) -> None:
    outcome = outcomes[target]
    if target in BREAKING:
        assert outcome.stage == "drift", f"{target} is breaking yet passed the drift check"
        assert "breaking for flux2" in outcome.output, outcome.output
        for word in BREAKING[target]:
            assert word in outcome.output, (word, outcome.output)
    else:
        assert outcome.stage == "tests", f"drift check refused {target}:\n{outcome.output}"
        assert outcome.ok, outcome.output


def test_the_variants_are_edits_of_the_pin() -> None:
    for name, ops in VARIANTS.items():
        variant = apply_patch(PIN, ops)
        assert variant != PIN, name
        assert apply_patch(PIN, []) == PIN

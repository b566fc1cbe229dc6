"""``DIR/index.html``: every image of a batch with its prompt, model, seed and cost, and every
item without an image with its reason, in batch order; read from the manifest only."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Final
from urllib.parse import quote

from .manifest import ItemState, Manifest, scrub_signatures

__all__ = ["GALLERY_NAME", "format_credits", "write_gallery"]

GALLERY_NAME: Final = "index.html"

_GALLERY_STYLE: Final = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 24px; background: #fafafa; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.summary { margin: 0 0 20px; color: #555; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; border-radius: 6px;
         overflow: hidden; }
figure img { display: block; width: 100%; height: auto; background: #eee; }
figcaption { padding: 8px 10px; }
.prompt { margin: 0 0 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
.meta { margin: 0; color: #666; font-size: 13px; }
.problem { padding: 16px 10px; background: #fff3f3; color: #a00; font-size: 13px;
           overflow-wrap: anywhere; }
"""


def format_credits(credits: float) -> str:
    """``"10 credits ($0.10)"``; 1 credit is $0.01 [doc]."""
    whole, _, cents = f"{credits / 100:.4f}".rstrip("0").partition(".")
    return f"{credits:g} credits (${whole}.{cents.ljust(2, '0')})"


def _e(value: object) -> str:
    return html.escape(scrub_signatures(str(value)), quote=True)


def _figure(state: ItemState) -> str:
    prompt = f'<p class="prompt">{_e(state.prompt)}</p>'
    meta = [_e(state.where)]
    model = state.model or state.params.get("model")
    if model:
        meta.append(f"model {_e(model)}")
    if state.seed is not None:
        meta.append(f"seed {_e(state.seed)}")
    if state.cost is not None:
        meta.append(f"cost {_e(f'{state.cost:g}')} credits")
    if state.task is not None:
        meta.append(f"task {_e(state.task.id)}")
    caption = f'<figcaption>{prompt}<p class="meta">{" · ".join(meta)}</p></figcaption>'
    if state.phase == "done" and state.file:
        image = (
            f'<a href="{_e(quote(state.file))}"><img src="{_e(quote(state.file))}" '
            f'alt="{_e(state.prompt)}" loading="lazy"></a>'
        )
    else:
        reason = state.error or state.phase
        image = f'<div class="problem">{_e(state.phase)}: {_e(reason)}</div>'
    return f"<figure>{image}{caption}</figure>"


def write_gallery(directory: str | os.PathLike[str]) -> Path:
    """Write ``DIR/index.html`` from ``DIR/manifest.jsonl``: each image with its prompt, model,
    seed and cost, each failure with its reason, in batch order. Returns the page's path."""
    out = Path(directory)
    states = sorted(Manifest(out).states().values(), key=lambda s: s.index)
    shown = [
        s
        for s in states
        if (s.phase == "done" and s.file and (out / s.file).is_file())
        or s.phase in ("failed", "rejected", "uncertain")
        or s.error
    ]
    images = sum(1 for s in shown if s.phase == "done")
    problems = len(shown) - images
    cost = sum(s.cost or 0.0 for s in states if s.task is not None)
    summary = f"{images} image{'s' if images != 1 else ''}"
    if problems:
        summary += f", {problems} without an image"
    summary += f"; {format_credits(cost)}"
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(out.resolve().name or 'flux2')} · flux2 batch</title>",
            f"<style>{_GALLERY_STYLE}</style></head>",
            "<body>",
            f"<h1>{_e(out.resolve().name or 'flux2')}</h1>",
            f'<p class="summary">{_e(summary)}</p>',
            "<main>",
            *(_figure(s) for s in shown),
            "</main>",
            "</body></html>",
            "",
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    target = out / GALLERY_NAME
    temporary = out / f".{GALLERY_NAME}.tmp"
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, target)
    return target

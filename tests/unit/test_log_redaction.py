"""No log record of any library, at any level, holds the key, a webhook secret or a URL
signature: not in its message, its arguments, its traceback or its stack."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flux2_fakes import KEY, SIG, FakeBFL, Runner, result_url

from flux2._logging import redact_text

HOOK_SECRET = "hook-s3cret-value"
SECRETS = (KEY, SIG, HOOK_SECRET)


def _httpcore_style(request: httpx.Request) -> None:
    """Lines as httpcore writes them at DEBUG: pre-formatted text with byte reprs, request
    headers, response headers carrying a signed URL, and a failure with a traceback."""
    wire = logging.getLogger("httpcore.http11")
    wire.debug(f"send_request_headers.started request=<Request [{request.method!r}]>")
    wire.debug("send_request_headers headers=%r", request.headers.raw)
    wire.debug(
        "receive_response_headers.complete return_value=(b'HTTP/1.1', 302, b'Found', "
        f"[(b'Location', {result_url('t').encode()!r})])"
    )
    logging.getLogger("hpack.hpack").debug("Decoded %s", {"x-key": KEY})
    logging.getLogger("some.library").info("fetched %s", httpx.URL(result_url("t")))
    try:
        raise httpx.ConnectError(f"cannot reach {result_url('t')} with key {KEY}")
    except httpx.ConnectError:
        logging.getLogger("httpcore.connection").debug("connect failed", exc_info=True)
    logging.getLogger("anything").debug("body %s", request.content.decode(), stack_info=True)


@pytest.fixture
def everything() -> Iterator[io.StringIO]:
    """A real handler on the root logger at DEBUG, formatting every record in full."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _leaks(records: list[logging.LogRecord], text: str) -> list[str]:
    found = []
    for secret in SECRETS:
        if secret in text:
            found.append(f"{secret} in handler output")
        for record in records:
            shown = [record.getMessage(), repr(record.args), record.exc_text or ""]
            shown.append(record.stack_info or "")
            if any(secret in part for part in shown):
                found.append(f"{secret} in {record.name}: {record.getMessage()[:80]}")
    return found


def test_no_record_of_any_library_holds_a_secret(
    run: Runner,
    api: FakeBFL,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    everything: io.StringIO,
) -> None:
    def logging_route(request: httpx.Request) -> httpx.Response:
        _httpcore_style(request)
        return api.submit_ok(request)

    api.routes[("POST", "https://api.bfl.ai/v1/flux-2-flex")] = logging_route
    api.submit_replies = [httpx.Response(429, headers={"retry-after": "1"})]
    with caplog.at_level(logging.DEBUG):
        image = run("generate", "a fox")
        run.save(image, tmp_path)
        run("download", image.result, tmp_path / "again.png")
        run("submit", "a fox", webhook_url="https://h.example.com/x", webhook_secret=HOOK_SECRET)
    assert any(r.name == "httpcore.http11" for r in caplog.records)
    assert any(r.exc_text for r in caplog.records)
    assert _leaks(caplog.records, everything.getvalue() + caplog.text) == []
    assert "sig=***" in everything.getvalue()  # redacted, not dropped


def test_records_are_redacted_for_loggers_and_handlers_set_up_before_flux2_is_imported(
    tmp_path: Path,
) -> None:
    script = textwrap.dedent(
        f"""
        import io, logging
        stream = io.StringIO()
        logging.basicConfig(level=logging.DEBUG, stream=stream)
        early = logging.getLogger("httpcore.http11")
        early.addHandler(logging.StreamHandler(stream))
        import httpx
        import flux2
        client = flux2.Client(api_key={KEY!r}, http_client=httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(200, json={{"credits": 1}}))))
        client.credits()
        early.debug("receive_response_headers Location=%s", {result_url("t")!r})
        early.debug("send_request_headers (b'x-key', b'{KEY}')")
        print(stream.getvalue())
        """
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert "receive_response_headers" in shown
    assert SIG not in shown
    assert KEY not in shown


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (f"GET https://d.example/x.png?se=2026&sig={SIG}&keep=1", ["2026", SIG]),
        (f"[(b'Location', b'https://d.example/x?sp=r&sig={SIG}')]", [SIG]),
        ("'https://d.example/x?token=abc123&a=1'", ["abc123"]),
        ("[(b'x-key', b'some-other-key-value')]", ["some-other-key-value"]),
        ("{'X-Key': 'some-other-key-value'}", ["some-other-key-value"]),
        ('{"webhook_secret":"another-secret"}', ["another-secret"]),
        ("x-webhook-secret: another-secret", ["another-secret"]),
        ("Authorization: Bearer-token-xyz", ["Bearer-token-xyz"]),
    ],
)
def test_secret_shapes_in_free_text_are_redacted(text: str, hidden: list[str]) -> None:
    shown = redact_text(text)
    for value in hidden:
        assert value not in shown
    assert "***" in shown


def test_ordinary_text_is_left_alone() -> None:
    text = "task 1234 polled at https://api.bfl.ai/v1/get_result?id=abc (status 'Pending')"
    assert redact_text(text) == text

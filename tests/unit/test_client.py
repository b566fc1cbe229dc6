"""Client settings, lifecycle, what is logged and shown, and what importing flux2 costs."""

from __future__ import annotations

import logging
import pydoc
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from flux2_fakes import KEY, SIG, FakeBFL, Runner, make_client

import flux2
from flux2._logging import redact_headers, redact_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BFL_API_KEY", "BFL_BASE_URL", "BFL_TRUSTED_HOSTS", "FLUX2_STRICT"):
        monkeypatch.delenv(name, raising=False)


def test_settings_come_from_arguments_then_environment_then_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = flux2.Client(api_key=KEY)
    assert client.base_url == "https://api.bfl.ai"
    assert client.max_retries == 2
    assert client.max_concurrency == 24
    assert client.wait_timeout == 600
    assert client.timeout == httpx.Timeout(60.0, connect=10.0)
    assert client.strict is None
    monkeypatch.setenv("BFL_API_KEY", "from-env")
    monkeypatch.setenv("BFL_BASE_URL", "https://proxy.example.com/")
    monkeypatch.setenv("FLUX2_STRICT", "warn")
    client = flux2.Client()
    assert client._options.api_key == "from-env"
    assert client.base_url == "https://proxy.example.com"
    assert client.strict == "warn"
    assert flux2.Client(base_url="https://other.example.com", strict=False).strict is None
    assert flux2.Client(strict=True).strict == "warn"
    assert flux2.Client(strict="error").strict == "error"
    monkeypatch.setenv("FLUX2_STRICT", "1")
    assert flux2.Client().strict == "warn"
    monkeypatch.setenv("FLUX2_STRICT", "error")
    assert flux2.Client().strict == "error"


def test_a_missing_key_is_a_clear_error() -> None:
    with pytest.raises(flux2.InputError, match="BFL_API_KEY"):
        flux2.Client()
    with pytest.raises(flux2.InputError, match="BFL_API_KEY"):
        flux2.AsyncClient(api_key="  ")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_concurrency": 0},
        {"timeout": 0},
        {"wait_timeout": -5},
        {"strict": "loud"},
        {"base_url": "http://api.example.com"},
        {"api_key": "bad\nkey"},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    kwargs.setdefault("api_key", KEY)
    with pytest.raises(flux2.InputError) as caught:
        flux2.Client(**kwargs)  # type: ignore[arg-type]
    assert "bad\nkey" not in str(caught.value)


def test_with_options_returns_a_changed_copy(run: Runner, api: FakeBFL) -> None:
    original = run.client
    copy = original.with_options(max_retries=5, timeout=3.0, base_url="https://api.bfl.ai")
    assert type(copy) is type(original)
    assert copy is not original
    assert (copy.max_retries, copy.timeout) == (5, httpx.Timeout(3.0))
    assert (original.max_retries, original.timeout) == (2, httpx.Timeout(60.0, connect=10.0))
    assert copy._http is original._http  # one connection pool
    run.client = copy
    run("credits")
    assert api.requests[0].extensions["timeout"] == httpx.Timeout(3.0).as_dict()


def test_each_request_carries_the_timeout_and_a_user_agent(run: Runner, api: FakeBFL) -> None:
    run("credits")
    (request,) = api.requests
    assert request.extensions["timeout"] == httpx.Timeout(60.0, connect=10.0).as_dict()
    assert request.headers["user-agent"] == f"flux2-python/{flux2.__version__}"


def test_an_owned_pool_is_closed_a_lent_one_is_not() -> None:
    lent = httpx.Client()
    with flux2.Client(api_key=KEY, http_client=lent) as client:
        assert not client.is_closed
    assert not lent.is_closed
    with flux2.Client(api_key=KEY) as owned:
        pass
    assert owned.is_closed
    lent.close()


async def test_the_async_client_is_an_async_context_manager() -> None:
    async with flux2.AsyncClient(api_key=KEY) as client:
        assert not client.is_closed
    assert client.is_closed


def test_the_key_appears_in_no_repr_and_no_log_line(
    run: Runner, api: FakeBFL, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    api.submit_replies = [httpx.Response(429, headers={"retry-after": "1"})]
    with caplog.at_level(logging.DEBUG):
        image = run("generate", "a fox")
        run.save(image, tmp_path)
        run("submit", "a fox", webhook_url="https://h.example.com/x", webhook_secret="hook-s3cret")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying" in text
    for secret in (KEY, SIG, "hook-s3cret"):
        assert secret not in text
        assert secret not in repr(run.client)
        assert secret not in repr(image)
        assert secret not in repr(image.result)
        assert secret not in repr(run.client._ctx)
        assert secret not in repr(run.client._options)


def test_redaction() -> None:
    url = "https://delivery.bfl.ai/r/x.jpeg?se=2026-01-01&sp=r&sig=abc%2Bdef&keep=1"
    shown = redact_url(url)
    assert "abc" not in shown
    assert "2026-01-01" not in shown
    assert "keep=1" in shown
    assert redact_url("https://user:pw@host/x") == "https://***@host/x"
    assert redact_headers({"X-Key": "k", "Accept": "a", "X-Webhook-Secret": "s"}) == {
        "X-Key": "***",
        "Accept": "a",
        "X-Webhook-Secret": "***",
    }


def test_strict_mode_checks_answers_against_the_spec(api: FakeBFL) -> None:
    from flux2.conformance import ConformanceError, Flux2ConformanceWarning

    api.polls = [{"status": "Generating"}, {"status": "Ready"}]
    lenient = make_client(api)
    lenient.generate("a fox")  # an in-flight status the spec lacks is fine when lenient
    warning = make_client(api, strict=True)
    with pytest.warns(Flux2ConformanceWarning, match="Generating"):
        warning.generate("a fox")
    strict = make_client(api, strict="error")
    with pytest.raises(ConformanceError, match="Generating"):
        strict.generate("a fox")


def test_help_reads_well() -> None:
    text = pydoc.render_doc(flux2.Client, renderer=pydoc.plaintext)
    for phrase in (
        "BFL_API_KEY",
        "trusted_hosts",
        "max_retries",
        "generate(self, prompt",
        "wait(self, task",
        "submit(self, prompt",
        "credits(self)",
        "generate_many(",
        "with_options(",
        "NOT_GIVEN",
    ):
        assert phrase in text, phrase
    for name in flux2.__all__:
        obj = getattr(flux2, name)
        if callable(obj):
            assert obj.__doc__, name


def test_the_public_names_resolve() -> None:
    for name in flux2.__all__:
        assert getattr(flux2, name) is not None
    assert "AsyncClient" in dir(flux2)
    code = "import flux2; print(len(flux2.registry.all_models()), flux2.webhooks.SIGNATURE_HEADER)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [str(len(flux2.registry.all_models())), "X-BFL-Signature"]
    with pytest.raises(AttributeError):
        flux2.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_importing_flux2_loads_neither_the_spec_nor_the_generated_client() -> None:
    # Nor httpcore: httpx itself loads it with its first client.
    code = (
        "import sys, flux2; "
        "print(sorted(m for m in ('flux2_generated', 'flux2.registry', 'flux2._spec', 'asyncio', "
        "'attrs', 'PIL', 'httpcore') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_version_matches_the_package_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert flux2.__version__ == project["version"]


def test_webhooks_are_explicit_keywords_of_submit(run: Runner, api: FakeBFL) -> None:
    import inspect

    from flux2_fakes import json_body

    for cls in (flux2.Client, flux2.AsyncClient):
        params = inspect.signature(cls.submit).parameters
        assert params["webhook_url"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["webhook_secret"].kind is inspect.Parameter.KEYWORD_ONLY
    task = run("submit", "a fox", webhook_url="https://hooks.example.com/x", webhook_secret="s3")
    assert task.polling_url is None
    body = json_body(api.submissions()[0])
    assert (body["webhook_url"], body["webhook_secret"]) == ("https://hooks.example.com/x", "s3")


def test_extra_body_sends_fields_newer_than_the_spec_with_a_warning(
    run: Runner, api: FakeBFL
) -> None:
    from flux2_fakes import json_body

    with pytest.warns(flux2.Flux2Warning, match="flux2 drift") as warned:
        run("submit", "a fox", seed=3, extra_body={"brand_new_knob": [1, 2]})
    assert "brand_new_knob" in str(warned[0].message)
    body = json_body(api.submissions()[0])
    assert body == {"prompt": "a fox", "seed": 3, "brand_new_knob": [1, 2]}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"seed": 3}, "seed is a field of the pinned spec"),
        ({"prompt": "other"}, "prompt is a field"),
        ({"when": object()}, "cannot be sent as JSON"),
        ({"nan": float("nan")}, "cannot be sent as JSON"),
        (["not", "a", "dict"], "must be a dict"),
    ],
)
def test_bad_extra_body_is_an_input_error_before_anything_is_sent(
    run: Runner, api: FakeBFL, extra: object, words: str
) -> None:
    with pytest.raises(flux2.InputError, match=words):
        run("submit", "a fox", extra_body=extra)
    assert api.requests == []

"""Every wrong argument of a public call is an InputError that says what was wrong and what is
allowed, raised before anything is sent: both clients, counted at the transport."""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flux2_fakes import KEY, PNG, FakeBFL, Runner

import flux2
from flux2 import _arguments

BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"api_key": b"sk-bytes"}, "api_key must be a str.*decode bytes"),
    ({"api_key": 12345}, "api_key must be a str"),
    ({"api_key": ""}, "no API key"),
    ({"api_key": "  "}, "no API key"),
    ({"api_key": "sk\nkey"}, "characters a header cannot carry"),
    ({"base_url": 5}, "base_url must be a str"),
    ({"base_url": b"https://api.bfl.ai"}, "base_url must be a str"),
    ({"base_url": ""}, "base_url is empty"),
    ({"base_url": "https://api.bfl.ai/?x=1"}, r"no query \(\?\.\.\.\) or fragment"),
    ({"base_url": "https://api.bfl.ai?"}, "no query"),
    ({"base_url": "https://api.bfl.ai/#top"}, "fragment"),
    ({"base_url": "https://user:pw@api.bfl.ai"}, "user:password@"),
    ({"base_url": "https://api.bfl.ai/v 1"}, "no spaces or control characters"),
    ({"base_url": "https://api.bfl.ai/\x00"}, "no spaces or control characters"),
    ({"base_url": "https://bücher.example"}, "must be ASCII"),
    ({"base_url": "ftp://api.bfl.ai"}, "http"),
    ({"base_url": "https://a..b"}, "label of a host name has 1 to 63 characters"),
    ({"base_url": "https://xn--.bfl.ai"}, "'xn--' is not a valid IDNA label"),
    ({"trusted_hosts": 5}, "trusted_hosts must be host names"),
    ({"trusted_hosts": [5]}, "trusted_hosts must be host names"),
    ({"trusted_hosts": b"proxy.example"}, "trusted_hosts must be host names"),
    ({"trusted_hosts": {"proxy.example": 1}}, "trusted_hosts must be host names"),
    ({"trusted_hosts": ["proxy example"]}, "is not a host name"),
    ({"trusted_hosts": ["proxy\x00.example"]}, "is not a host name"),
    ({"trusted_hosts": [".com"]}, "would trust a whole top-level domain"),
    ({"trusted_hosts": "a.example,,b.example"}, "an empty entry"),
    ({"trusted_hosts": ["[::1"]}, r"an unclosed \[IPv6\]"),
    ({"trusted_hosts": ["http://"]}, "the URL names no host"),
    ({"timeout": "5"}, "timeout must be a positive, finite number of seconds"),
    ({"timeout": math.nan}, "timeout must be a positive, finite"),
    ({"timeout": math.inf}, "timeout must be a positive, finite"),
    ({"timeout": -1}, "timeout must be a positive"),
    ({"timeout": 0}, "timeout must be a positive"),
    ({"timeout": True}, "timeout must be a positive"),
    ({"timeout": 10**400}, "timeout must be a positive, finite.*huge int"),
    ({"wait_timeout": "600"}, "wait_timeout must be a positive, finite"),
    ({"wait_timeout": math.nan}, "wait_timeout must be a positive, finite"),
    ({"wait_timeout": math.inf}, "wait_timeout must be a positive, finite"),
    ({"wait_timeout": -0.5}, "wait_timeout must be a positive"),
    ({"wait_timeout": False}, "wait_timeout must be a positive"),
    ({"wait_timeout": 10**400}, "wait_timeout must be a positive, finite"),
    ({"max_retries": -1}, "max_retries must be an integer from 0 to 100"),
    ({"max_retries": 1.0}, "max_retries must be an integer"),
    ({"max_retries": True}, "max_retries must be an integer"),
    ({"max_retries": "2"}, "max_retries must be an integer"),
    ({"max_retries": 10**30}, "max_retries must be an integer from 0 to 100, got a huge int"),
    ({"max_concurrency": 0}, "max_concurrency must be an integer from 1 to 10000"),
    ({"max_concurrency": math.nan}, "max_concurrency must be an integer"),
    ({"max_concurrency": True}, "max_concurrency must be an integer"),
    ({"max_concurrency": 10**30}, "max_concurrency must be an integer from 1 to 10000"),
    ({"poll_schedule": 5}, "poll_schedule must be a flux2.PollSchedule"),
    ({"poll_schedule": {"scale": 2}}, "poll_schedule must be a flux2.PollSchedule"),
    ({"strict": "yes"}, "strict must be True, False, 'warn' or 'error'"),
    ({"strict": 1}, "strict must be"),
]


def _ids(cases: list[tuple[dict[str, Any], str]]) -> list[str]:
    return [",".join(f"{k}={v!r}"[:40] for k, v in options.items()) for options, _ in cases]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(("options", "message"), BAD_SETTINGS, ids=_ids(BAD_SETTINGS))
def test_a_wrong_setting_is_an_input_error_before_anything_is_sent(
    kind: str, options: dict[str, Any], message: str
) -> None:
    api = FakeBFL()
    settings = {"api_key": KEY, **options}
    make: Any = flux2.Client if kind == "sync" else flux2.AsyncClient
    http = httpx.Client if kind == "sync" else httpx.AsyncClient
    with pytest.raises(flux2.InputError, match=message) as caught:
        make(http_client=http(transport=api.transport()), **settings)
    assert caught.value.param == next(iter(options))
    assert api.requests == []


@pytest.mark.parametrize(("options", "message"), BAD_SETTINGS, ids=_ids(BAD_SETTINGS))
def test_with_options_checks_as_the_constructor_does(
    run: Runner, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(flux2.InputError, match=message):
        run.client.with_options(**options)
    run("submit", "still works")
    assert len(run.api.submissions()) == 1


def test_with_options_names_the_options_when_given_an_unknown_one(run: Runner) -> None:
    with pytest.raises(flux2.InputError, match=r"no option 'foo'; the options are .*max_retries"):
        run.client.with_options(foo=1)


def test_a_key_of_the_wrong_type_is_not_echoed() -> None:
    with pytest.raises(flux2.InputError) as caught:
        flux2.Client(api_key=b"sk-secret-bytes")
    assert "sk-secret-bytes" not in str(caught.value)


def test_the_api_key_from_the_environment_is_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BFL_API_KEY", KEY)
    monkeypatch.setenv("BFL_BASE_URL", "https://api.eu.bfl.ai/")
    monkeypatch.setenv("BFL_TRUSTED_HOSTS", "proxy.example, .example.org")
    client = flux2.Client()
    assert client.base_url == "https://api.eu.bfl.ai"
    assert client.trusted_hosts == ("proxy.example", ".example.org")
    client.close()


def test_a_base_url_with_a_query_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BFL_BASE_URL", "https://api.bfl.ai/?sig=abc")
    with pytest.raises(flux2.InputError, match="no query") as caught:
        flux2.Client(api_key=KEY)
    assert "abc" not in str(caught.value)  # the signature-like value is redacted


_HAS_SOCKSIO = importlib.util.find_spec("socksio") is not None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param(
            "ALL_PROXY",
            "socks5://user:s3cret-pw@proxy.example:1080",
            "needs the 'socksio' package",
            marks=pytest.mark.skipif(_HAS_SOCKSIO, reason="socksio is installed"),
            id="socks-without-socksio",
        ),
        pytest.param(
            "HTTPS_PROXY", "ftp://user:s3cret-pw@proxy.example", "not a usable URL", id="scheme"
        ),
        pytest.param("HTTP_PROXY", "http://proxy.example:s3cret-pw", "not a usable URL", id="port"),
    ],
)
@pytest.mark.parametrize("client_type", [flux2.Client, flux2.AsyncClient])
def test_a_proxy_from_the_environment_httpx_cannot_use_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch,
    client_type: type[flux2.Client | flux2.AsyncClient],
    variable: str,
    value: str,
    message: str,
) -> None:
    for name in ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(flux2.InputError, match=message) as caught:
        client_type(api_key=KEY)
    assert "s3cret" not in str(caught.value)  # a proxy URL may carry a password
    assert "http_client=" in str(caught.value)


def test_a_base_url_with_a_path_is_still_accepted() -> None:
    client = flux2.Client(api_key=KEY, base_url="https://gateway.example/bfl/")
    assert client.base_url == "https://gateway.example/bfl"
    client.close()


# -- the arguments of a submission ----------------------------------------------------------


def _fifo(directory: Path) -> Path:
    path = directory / "pipe.png"
    os.mkfifo(path)
    return path


def _socket(directory: Path) -> Path:
    path = directory / "s.png"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


def _text_link(directory: Path) -> Path:
    private = directory / "private.txt"
    private.write_text("root:x:0:0:the secret content\n")
    link = directory / "innocent.png"
    link.symlink_to(private)
    return link


def _binary(directory: Path) -> Path:
    path = directory / "blob.png"
    path.write_bytes(b"\x00\x01SECRETBYTES" + bytes(range(1, 60)))
    return path


def _directory(directory: Path) -> Path:
    (directory / "d.png").mkdir()
    return directory / "d.png"


unix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and sockets are POSIX")

BAD_FILES = [
    pytest.param(
        _fifo, "is a named pipe \\(FIFO\\), not an image file", marks=unix_only, id="fifo"
    ),
    pytest.param(_socket, "is a socket, not an image file", marks=unix_only, id="socket"),
    pytest.param(_directory, "is a directory, not an image file", id="directory"),
    pytest.param(_text_link, r"not an image \(text\)", marks=unix_only, id="symlink-to-text"),
    pytest.param(_binary, r"not an image \(unrecognised binary data\)", id="binary"),
]


@pytest.mark.parametrize(("make", "message"), BAD_FILES)
def test_an_input_file_that_is_not_a_regular_image_is_refused_without_quoting_it(
    run: Runner, tmp_path: Path, make: Any, message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(flux2.InputError, match=message) as caught:
        run("submit", "edit", images=[path])
    assert "secret" not in str(caught.value).lower()
    assert run.api.requests == []


@unix_only
def test_a_character_device_is_refused_before_it_is_read(run: Runner) -> None:
    with pytest.raises(flux2.InputError, match="is a character device, not an image file"):
        run("submit", "edit", images=["/dev/zero"])
    assert run.api.requests == []


BAD_SUBMISSIONS: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
    (("x",), {"width": 1_000_000}, r"width=1000000 given alone .* at most 2048"),
    (("x",), {"height": 70_000}, r"height=70000 given alone .* at most 2048"),
    (("x",), {"width": 10**40}, r"width=a 41-digit number is out of range"),
    (("x",), {"width": 4096, "height": 2048}, r"= 8.39 MP is more than the 4 MP"),
    (("x",), {"width": 2**62, "height": 2**62}, r"pixels is more than the 4 MP"),
    (("x",), {"width": True}, "width=True is not allowed"),
    (("x",), {"width": math.nan}, "width=nan is not allowed"),
    (("x",), {"width": 1024.0}, "width=1024.0 is not allowed"),
    (("x",), {"width": -1024}, "width=-1024 is not allowed"),
    (("x",), {"seed": 10**30}, "seed=a 31-digit number is out of range.*64 bits"),
    (("x",), {"seed": -(2**63) - 1}, "seed=.* is out of range"),
    (("x",), {"seed": "7"}, "seed='7' is not allowed"),
    (("x",), {"guidance": math.inf}, "guidance=inf is not allowed"),
    (("x",), {"guidance": math.nan}, "guidance=nan is not allowed"),
    (("x",), {"steps": 0}, "steps=0 is not allowed"),
    (("x",), {"safety_tolerance": True}, "safety_tolerance=True is not allowed"),
    (("x",), {"output_format": ""}, "output_format='' is not allowed"),
    (("x",), {"output_format": 5}, "output_format=5 is not allowed"),
    (("x",), {"prompt_upsampling": 1}, "prompt_upsampling=1 is not allowed"),
    (("\ud800 fox",), {}, r"prompt holds a lone surrogate \(U\+D800 at index 0\)"),
    ((b"a fox",), {}, "prompt must be a string, got bytes"),
    ((None,), {}, "prompt must be a string"),
    (("x",), {"model": 5}, "model must be a model name"),
    (("x",), {"model": ""}, "unknown model ''"),
    (("x",), {"images": 5}, "images must be a list of images"),
    (("x",), {"images": {"a.png": 1}}, "images must be a list of images.*dict"),
    (("x",), {"images": {PNG}}, "images must be a list of images.*set"),
    (("x",), {"images": [5]}, r"images\[0\]: cannot use a int as an image"),
    (("x",), {"images": [None]}, r"images\[0\]: cannot use a NoneType"),
    (("x",), {"images": [b""]}, r"images\[0\] \(bytes\): empty"),
    (("x",), {"images": [""]}, r"images\[0\]"),
    (("x",), {"images": ["a\x00b.png"]}, "cannot hold a NUL character"),
    (("x",), {"images": [Path("a\x00b.png")]}, "cannot hold a NUL character"),
    (("x",), {"images": [Path("\ud800.png")]}, "cannot be a file name"),
    (("x",), {"images": ["\udcff\ud800.png"]}, "cannot be a file name"),
    (("x",), {"images": ["https://example.com/ü.png"]}, "URLs must be ASCII"),
    (("x",), {"images": "data:image/png;base64,@@@@"}, "invalid base64"),
    (("x",), {"images": (PNG for _ in range(10**9))}, "at most 8 input images"),
    (("x",), {"images": [PNG], "input_image": PNG}, "either as images"),
    (("x",), {"input_image_2": PNG}, "filled in order"),
    (("x",), {"webhook_secret": "s"}, "only used with webhook_url"),
    (
        ("x",),
        {"webhook_url": "https://hooks.example/\ud800", "webhook_secret": "s"},
        "webhook_url holds a lone surrogate",
    ),
    (
        ("x",),
        {"webhook_url": "https://hooks.example/in", "webhook_secret": "\udcffsecret"},
        "webhook_secret holds a lone surrogate",
    ),
    (("x",), {"webhook_url": ""}, "webhook_url='' is not allowed"),
    (("x",), {"webhook_url": "ftp://hooks.example"}, "is not allowed"),
    (("x",), {"no_such_field": 1}, "has no parameter 'no_such_field'"),
]


def _sub_ids(cases: list[tuple[tuple[Any, ...], dict[str, Any], str]]) -> list[str]:
    return [f"{args!r}{sorted(kwargs)}"[:50] for args, kwargs, _ in cases]


@pytest.mark.parametrize("method", ["submit", "generate"])
@pytest.mark.parametrize(
    ("args", "kwargs", "message"), BAD_SUBMISSIONS, ids=_sub_ids(BAD_SUBMISSIONS)
)
def test_a_wrong_request_argument_is_an_input_error_before_anything_is_sent(
    run: Runner, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(flux2.InputError, match=message):
        run(method, *args, **kwargs)
    assert run.api.requests == []


# A one-shot iterator of images, shared by every run of a parametrized case, is tried by the
# single calls above only.
BAD_ITEMS = [
    case
    for case in BAD_SUBMISSIONS
    if not ("images" in case[1] and isinstance(case[1]["images"], Iterator))
]


@pytest.mark.parametrize(("args", "kwargs", "message"), BAD_ITEMS, ids=_sub_ids(BAD_ITEMS))
def test_a_wrong_batch_item_fails_alone_with_its_input_error(
    run: Runner, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    results = run("generate_many", [{"prompt": args[0], **kwargs}, "a good one"])
    by_index = {r.index: r for r in results}
    assert isinstance(by_index[0].error, flux2.InputError)
    assert by_index[0].task is None
    assert by_index[1].error is None
    assert len(run.api.submissions()) == 1


@pytest.mark.parametrize("side", ["width", "height"])
def test_one_side_alone_up_to_the_limit_is_sent(run: Runner, side: str) -> None:
    run("submit", "x", **{side: 2048})
    assert len(run.api.submissions()) == 1
    with pytest.raises(flux2.InputError, match="at most 2048"):
        run("submit", "x", **{side: 2064})
    assert len(run.api.submissions()) == 1


def test_the_largest_allowed_size_is_sent(run: Runner) -> None:
    run("submit", "x", width=2048, height=2048, seed=2**63 - 1)
    assert len(run.api.submissions()) == 1


# -- the options of one call ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": "5"}, "timeout must be a positive, finite number of seconds"),
        ({"timeout": math.nan}, "timeout must be a positive, finite"),
        ({"timeout": -1}, "timeout must be a positive"),
        ({"timeout": True}, "timeout must be a positive"),
        ({"concurrency": 0}, "concurrency must be an integer from 1 to 10000"),
        ({"concurrency": "2"}, "concurrency must be an integer"),
        ({"concurrency": 2.0}, "concurrency must be an integer"),
        ({"callbacks": {"on_progress": 5}}, "on_progress must be a function or None"),
        ({"callbacks": {"on_submitted": "print"}}, "on_submitted must be a function"),
    ],
)
def test_call_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(flux2.InputError, match=message):
        _arguments.call_options(**options)


def test_good_call_options_pass() -> None:
    _arguments.call_options(timeout=None, concurrency=None, callbacks={"on_progress": None})
    _arguments.call_options(timeout=0.5, concurrency=24, callbacks={"on_progress": print})

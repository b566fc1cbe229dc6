"""Where the API key may go: the host policy, polling URLs, redirects and downloads."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from flux2_fakes import KEY, FakeBFL, Runner, make_client, result_url

import flux2
from flux2.decisions import HostPolicy


@pytest.fixture
def policy() -> HostPolicy:
    return HostPolicy.for_base_url(
        "https://proxy.example.com:8443", ["internal.example.org", ".corp.example", "gw:9000"]
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://proxy.example.com:8443/v1/get_result?id=1",
        "https://proxy.example.com/v1/get_result?id=1",  # same host name, any port
        "https://proxy.example.com:9999/x",
        "https://api.bfl.ai/v1/get_result?id=1",
        "https://api.eu2.bfl.ai/v1/get_result?id=1",
        "https://bfl.ai/x",
        "https://API.US2.BFL.AI/x",
        "https://internal.example.org/x",
        "https://a.b.corp.example/x",
        "https://gw:1234/x",
    ],
)
def test_trusted(policy: HostPolicy, url: str) -> None:
    assert policy.is_trusted(url)
    policy.check_api_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.eu2.bfl.ai/v1/get_result?id=1",  # plain http off loopback
        "http://proxy.example.com/x",
        "https://evilbfl.ai/x",
        "https://bfl.ai.evil.com/x",
        "https://api.bfl.ai@evil.com/x",
        "https://user:pw@api.bfl.ai/x",  # userinfo
        "https://sub.internal.example.org/x",  # exact names do not cover subdomains
        "https://corp.example.evil/x",
        "ftp://api.bfl.ai/x",
        "https://127.0.0.1/x",
        "not a url",
        "https://\uff21PI.bfl.ai/x",  # fullwidth letters: compared as text, connected as ASCII
        "https://evil\u3002com.bfl.ai/x",  # an ideographic full stop, which IDNA maps to "."
    ],
)
def test_untrusted(policy: HostPolicy, url: str) -> None:
    assert not policy.is_trusted(url)
    with pytest.raises(flux2.UntrustedHostError, match="trusted_hosts"):
        policy.check_api_url(url)


def test_plain_http_only_on_loopback() -> None:
    for base in (
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:5000",
        "http://127.9.9.9",
    ):
        policy = HostPolicy.for_base_url(base)
        assert policy.is_trusted(base + "/v1/credits")
    with pytest.raises(flux2.InputError, match="loopback"):
        HostPolicy.for_base_url("http://api.example.com")
    with pytest.raises(flux2.InputError, match="user:password"):
        HostPolicy.for_base_url("https://u:p@api.bfl.ai")
    with pytest.raises(flux2.InputError, match="http"):
        HostPolicy.for_base_url("api.bfl.ai")
    # Another loopback host is still another host: not trusted unless listed.
    policy = HostPolicy.for_base_url("http://127.0.0.1:8080")
    assert not policy.is_trusted("http://127.0.0.2:8080/x")
    assert HostPolicy.for_base_url("http://127.0.0.1:1", ["127.0.0.2"]).is_trusted(
        "http://127.0.0.2:9/x"
    )


def test_trusted_hosts_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BFL_TRUSTED_HOSTS", "a.example.com, b.example.com ,")
    client = flux2.Client(api_key=KEY)
    assert client.trusted_hosts == ("a.example.com", "b.example.com")
    assert flux2.Client(api_key=KEY, trusted_hosts=["c.example.com"]).trusted_hosts == (
        "c.example.com",
    )


def test_an_untrusted_polling_url_is_refused_before_any_connection(
    run: Runner, api: FakeBFL
) -> None:
    api.polling_base = "https://attacker.example.net"
    task = run("submit", "a fox")
    with pytest.raises(flux2.UntrustedHostError) as caught:
        run("wait", task)
    assert "attacker.example.net" in str(caught.value)
    assert KEY not in str(caught.value)
    assert api.to("attacker.example.net") == []
    with pytest.raises(flux2.UntrustedHostError):
        run("get_result", "https://attacker.example.net/v1/get_result?id=task-1")
    assert api.to("attacker.example.net") == []


def test_generate_refuses_the_same_way(run: Runner, api: FakeBFL) -> None:
    api.polling_base = "http://api.eu2.bfl.ai"  # right host, plain http
    with pytest.raises(flux2.UntrustedHostError):
        run("generate", "a fox")
    assert api.to("api.eu2.bfl.ai") == []


def test_a_polling_url_on_a_trusted_host_gets_the_key(run: Runner, api: FakeBFL) -> None:
    run("generate", "a fox")
    (poll,) = api.polls_made()
    assert poll.url.host == "api.eu2.bfl.ai"
    assert poll.headers["x-key"] == KEY


def test_downloads_never_carry_the_key(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    image = run("generate", "a fox")
    run.save(image, tmp_path / "fox.png")
    (download,) = api.to("delivery-eu1.bfl.ai")
    assert "x-key" not in download.headers
    assert all("authorization" not in r.headers for r in api.requests)


def test_a_redirect_to_another_host_drops_the_key(run: Runner, api: FakeBFL) -> None:
    api.routes[("GET", "https://api.eu2.bfl.ai/v1/get_result")] = lambda request: httpx.Response(
        307,
        headers={"location": f"https://api.us2.bfl.ai/v1/get_result?{request.url.query.decode()}"},
    )
    api.routes[("GET", "https://api.us2.bfl.ai/v1/get_result")] = lambda request: httpx.Response(
        200,
        json={"id": "task-1", "status": "Ready", "result": {"sample": result_url("task-1")}},
    )
    run("generate", "a fox")
    (moved,) = api.to("api.us2.bfl.ai")
    assert "x-key" not in moved.headers


def test_a_redirect_on_the_same_host_keeps_the_key(run: Runner, api: FakeBFL) -> None:
    calls = []

    def first(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(302, headers={"location": "/v1/get_result?id=task-1&moved=1"})
        return api.poll(request)

    api.routes[("GET", "https://api.eu2.bfl.ai/v1/get_result")] = first
    run("generate", "a fox")
    assert [r.headers.get("x-key") for r in calls] == [KEY, KEY]


def test_a_redirected_submission_is_not_followed(run: Runner, api: FakeBFL) -> None:
    api.submit_replies = [
        httpx.Response(307, headers={"location": "https://elsewhere.example.com/v1/flux-2-flex"})
    ]
    with pytest.raises(flux2.APIError) as caught:
        run("submit", "a fox")
    assert caught.value.status_code == 307
    assert len(api.requests) == 1


def test_downloads_from_plain_http_off_loopback_are_refused(api: FakeBFL, tmp_path: Path) -> None:
    client = make_client(api)
    with pytest.raises(flux2.UntrustedHostError):
        client.download("http://delivery.example.com/x.png", tmp_path)
    assert api.requests == []

"""Result downloads: atomic files, names from the real format, expiry, truncation."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import httpx
import pytest
from flux2_fakes import JPEG, PNG, SIG, FakeBFL, Runner, make_client, result_url

import flux2
from flux2.downloads import FileSink, url_expiry


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_save_writes_exactly_the_path_given(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    image = run("generate", "a fox")
    target = tmp_path / "fox.png"
    assert run.save(image, target) == target
    assert target.read_bytes() == PNG
    assert leftovers(tmp_path) == ["fox.png"]


def test_a_directory_gets_the_task_id_and_the_actual_format(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    # The URL says .jpeg and the server says image/png; the bytes are what count.
    api.image = JPEG
    image = run("generate", "a fox")
    saved = run.save(image, tmp_path)
    assert saved == tmp_path / "task-1.jpg"
    assert saved.read_bytes() == JPEG


def test_a_missing_directory_given_with_a_trailing_slash_is_created(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    image = run("generate", "a fox")
    saved = run.save(image, f"{tmp_path}/out/")
    assert saved == tmp_path / "out" / "task-1.png"


def test_saved_files_get_ordinary_permissions(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    image = run("generate", "a fox")
    saved = run.save(image, tmp_path / "fox.png")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o666 & ~umask


def test_a_short_download_is_an_error_and_leaves_no_file(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    short = httpx.Response(200, content=PNG[:50], headers={"content-length": str(len(PNG))})
    api.delivery_replies = [short, short, short]
    image = run("generate", "a fox")
    with pytest.raises(flux2.DownloadError, match=f"received 50 of {len(PNG)} bytes"):
        run.save(image, tmp_path / "fox.png")
    assert leftovers(tmp_path) == []
    assert len(api.to("delivery-eu1.bfl.ai")) == 3  # a GET: retried


def test_a_short_download_then_a_whole_one_succeeds(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    api.delivery_replies = [
        httpx.Response(200, content=PNG[:10], headers={"content-length": str(len(PNG))})
    ]
    image = run("generate", "a fox")
    assert run.save(image, tmp_path / "fox.png").read_bytes() == PNG
    assert leftovers(tmp_path) == ["fox.png"]


def test_a_body_that_is_not_an_image_is_refused(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    api.delivery_replies = [httpx.Response(200, html="<html>proxy error</html>")]
    image = run("generate", "a fox")
    with pytest.raises(flux2.DownloadError, match="not an image but an HTML page") as caught:
        run.save(image, tmp_path / "fox.png")
    assert "proxy" not in str(caught.value)  # named, never quoted
    assert "<html" not in str(caught.value)
    assert leftovers(tmp_path) == []


def test_an_expired_url_says_so(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    api.polls = [
        {
            "status": "Ready",
            "result": {"sample": result_url("task-1", expires="2020-01-01T00:00:00Z"), "seed": 1},
        }
    ]
    api.delivery_replies = [httpx.Response(403, text="AuthenticationFailed")]
    image = run("generate", "a fox")
    with pytest.raises(flux2.ResultExpiredError, match="expired") as caught:
        run.save(image, tmp_path / "fox.png")
    assert caught.value.status_code == 403
    assert SIG not in str(caught.value)
    assert leftovers(tmp_path) == []


def test_a_403_before_expiry_is_a_download_error_with_a_hint(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    api.delivery_replies = [httpx.Response(403)]
    image = run("generate", "a fox")
    with pytest.raises(flux2.DownloadError, match="may have") as caught:
        run.save(image, tmp_path / "fox.png")
    assert not isinstance(caught.value, flux2.ResultExpiredError)


def test_410_means_expired(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    api.delivery_replies = [httpx.Response(410)]
    image = run("generate", "a fox")
    with pytest.raises(flux2.ResultExpiredError):
        run.save(image, tmp_path / "fox.png")


def test_server_errors_on_download_are_retried(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    api.delivery_replies = [httpx.Response(502), httpx.Response(503)]
    image = run("generate", "a fox")
    assert run.save(image, tmp_path / "fox.png").read_bytes() == PNG


def test_content_is_fetched_once_and_reused(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    image = run("generate", "a fox")
    content = run.run(image.aread()) if run.kind == "async" else image.content
    assert content == PNG
    run.save(image, tmp_path / "a.png")
    run.save(image, tmp_path)
    assert len(api.to("delivery-eu1.bfl.ai")) == 1
    assert (tmp_path / "task-1.png").read_bytes() == PNG


def test_redirects_on_download_are_followed_without_a_key(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    api.delivery_replies = [
        httpx.Response(302, headers={"location": "https://cdn.example.com/final.png"})
    ]
    api.routes[("GET", "https://cdn.example.com/final.png")] = lambda request: httpx.Response(
        200, content=PNG
    )
    image = run("generate", "a fox")
    assert run.save(image, tmp_path / "x.png").read_bytes() == PNG
    fetched = [r for r in api.requests if r.url.host in {"delivery-eu1.bfl.ai", "cdn.example.com"}]
    assert [r.url.host for r in fetched] == ["delivery-eu1.bfl.ai", "cdn.example.com"]
    assert all("x-key" not in r.headers for r in fetched)


def test_download_takes_a_result_or_a_url(api: FakeBFL, tmp_path: Path) -> None:
    client = make_client(api)
    result = client.get_result(
        flux2.Task("task-5", "https://api.eu2.bfl.ai/v1/get_result?id=task-5")
    )
    assert client.download(result, tmp_path) == tmp_path / "task-5.png"
    assert client.download(result_url("abc"), tmp_path / "u.png").read_bytes() == PNG
    pending = flux2.TaskResult(id="t", status="Pending")
    with pytest.raises(flux2.InputError, match="no result URL"):
        client.download(pending, tmp_path)
    failed = flux2.TaskResult(id="t", status="Content Moderated")
    with pytest.raises(flux2.ContentModeratedError):
        client.download(failed, tmp_path)


def test_an_interrupted_save_leaves_nothing(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "x.png", stem="t")
    sink.begin("image/png")
    sink.write(PNG[:10])
    sink.abort()
    assert leftovers(tmp_path) == []


def test_url_expiry_reads_se_else_end_time() -> None:
    assert url_expiry("https://d.bfl.ai/x?se=2026-09-21T10:00:00Z&sig=x", None) == 1789984800.0
    assert url_expiry("https://d.bfl.ai/x?se=2026-09-21T10%3A00%3A00Z", None) == 1789984800.0
    assert url_expiry("https://d.bfl.ai/x?se=2026-09-21T10:00:00", None) == 1789984800.0
    assert url_expiry("https://d.bfl.ai/x", 1000.0) == 1600.0
    assert url_expiry("https://d.bfl.ai/x", None) is None


def test_a_sink_restarted_after_an_abort_writes_only_the_new_attempt(tmp_path: Path) -> None:
    # A download retried after a broken body: the first attempt's bytes, some still with the
    # writer thread, go nowhere; only the second attempt's bytes are in the file.
    big = PNG + bytes(range(256)) * 20_000
    sink = FileSink(tmp_path, stem="t")
    sink.begin("image/png")
    sink.write(JPEG + bytes(len(big)))
    sink.abort()
    assert leftovers(tmp_path) == []
    sink.begin("image/png")
    for start in range(0, len(big), 65_536):
        if sink.write(big[start : start + 65_536]):
            sink.drain()
    sink.finish()
    assert sink.path == tmp_path / "t.png"
    assert sink.path.read_bytes() == big
    assert leftovers(tmp_path) == ["t.png"]
    assert not [t for t in threading.enumerate() if t.name == "flux2-file-writer"]

"""The emulator's listeners: uvicorn serving the service on three loopback ports, from a
background thread."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Final, Self

import uvicorn
from starlette.types import Scope

from flux2._spec import pinned_spec

from ._faults import Fault, FaultSet, parse_faults
from ._service import Config, Origins, Service
from ._tasks import EmulatedTask, Origin, RecordedRequest, WebhookDelivery
from ._timing import DEFAULT_PROFILE, Profile, Timing

if TYPE_CHECKING:
    import flux2

__all__ = ["ANY_KEY", "Emulator", "serve"]

ANY_KEY: Final = "emulator-key"
"""The key :meth:`Emulator.client` sends to an emulator that accepts any key."""

# How long start() waits for the listeners before it gives up.
_START_TIMEOUT: Final = 10.0
# How long stop() lets requests in progress finish before it closes their connections.
_STOP_GRACE: Final = 3.0
# 24 tasks in flight per account for FLUX.2 [doc].
DEFAULT_MAX_IN_FLIGHT: Final = 24
# Result URLs expire 10 minutes after the task ends [doc][seen].
DEFAULT_RESULT_TTL: Final = 600.0
DEFAULT_CREDITS: Final = 1000.0
# How many requests, tasks and webhook deliveries an emulator remembers: a long session
# (`flux2 mock`) does not grow without end, and no test comes near it.
DEFAULT_HISTORY: Final = 10_000
_ORIGINS: Final[tuple[Origin, ...]] = ("api", "polling", "delivery")


def _url_host(host: str) -> str:
    """The host name URLs carry for a listen address (a wildcard is reached via loopback)."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a comparison, not a bind
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off only on sockets that say so, and
    # with Nagle on, every small answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, woken at once by :meth:`wake_to_exit` rather than at its next tick
    (it looks for ``should_exit`` every 0.1 s): stopping an emulator is part of every test."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._wake.wait()

    def wake_to_exit(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(wake.set)


class Emulator:
    """A local stand-in for the BFL API: real HTTP on three loopback ports.

    ``base_url`` takes submits, ``get_result`` and ``credits``; every task's ``polling_url``
    points at ``polling_origin`` (another port of the same host: another origin, like the
    regional clusters); result images come from ``delivery_origin`` through signed URLs that
    expire and need no key. Use it as a context manager, or call :meth:`start` and
    :meth:`stop`. Several emulators can run in one process.

    ``api_key=None`` accepts any non-empty key. ``speed`` multiplies the simulated generation
    times (0: ready at the first poll). ``profile`` says how those times are drawn:
    ``"steady"`` (each model's figure exactly), ``"expected"`` (spread around the figures,
    with queue waits and uneven progress), ``"faster"``, ``"slower"`` (2x) or ``"wide"``;
    ``seed`` makes the draws repeatable (see ``flux2.emulator.PROFILES``). ``faults`` are
    server-wide faults (see the package documentation); ``result_size`` pads every result
    image to that many bytes; ``spec`` is an OpenAPI document to serve instead of the pinned
    one (every submit endpoint of it is served). ``history`` bounds what it remembers: the
    last ``history`` requests and webhook deliveries, and as many tasks (the oldest finished
    ones are forgotten first, and polls for them answer ``Task not found``; tasks in flight
    are kept). :meth:`client` and :meth:`async_client` give flux2 clients that poll at its
    speed.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        speed: float = 1.0,
        profile: str | Profile = DEFAULT_PROFILE,
        seed: int = 0,
        credits: float = DEFAULT_CREDITS,
        result_ttl: float = DEFAULT_RESULT_TTL,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        faults: str | Fault | Iterable[str | Fault] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        result_size: int | None = None,
        spec: Mapping[str, Any] | None = None,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ValueError("api_key must be a non-empty string, or None to accept any key")
        if not (isinstance(speed, int | float) and math.isfinite(speed) and speed >= 0):
            raise ValueError(f"speed must be a number >= 0, got {speed!r}")
        if not result_ttl >= 0:
            raise ValueError(f"result_ttl must be >= 0 seconds, got {result_ttl!r}")
        if not (isinstance(max_in_flight, int) and max_in_flight >= 1):
            raise ValueError(f"max_in_flight must be a whole number >= 1, got {max_in_flight!r}")
        if result_size is not None and result_size < 1:
            raise ValueError(f"result_size must be a number of bytes >= 1, got {result_size!r}")
        if isinstance(history, bool) or not (isinstance(history, int) and history >= 1):
            raise ValueError(f"history must be a whole number >= 1, got {history!r}")
        self._config = Config(
            api_key=api_key,
            speed=float(speed),
            result_ttl=float(result_ttl),
            max_in_flight=max_in_flight,
            result_size=result_size,
            timing=Timing(profile, seed),
        )
        self._initial_credits = float(credits)
        self._initial_faults = parse_faults(faults)
        self._host = host
        self._port = port
        self._spec = spec
        self._history = history
        self._service: Service | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[socket.socket] = []
        self._stopped = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the three ports and serve; returns once the listeners accept connections."""
        if self._service is not None:
            raise RuntimeError("this emulator was already started")
        ports = (self._port, 0, 0)
        try:
            self._sockets = [_listen(self._host, port) for port in ports]
        except OSError:
            for sock in self._sockets:
                sock.close()
            self._sockets = []
            raise
        bound = [int(sock.getsockname()[1]) for sock in self._sockets]
        name = _url_host(self._host)
        urls = [f"http://{name}:{port}" for port in bound]
        origins = Origins(
            api=urls[0],
            polling=urls[1],
            delivery=urls[2],
            by_port=dict(zip(bound, _ORIGINS, strict=True)),
        )
        self._service = Service(
            self._config,
            origins,
            credits=self._initial_credits,
            faults=self._initial_faults,
            spec=self._spec if self._spec is not None else pinned_spec(),
            close_connection=self._close_connection,
            history=self._history,
        )
        config = uvicorn.Config(
            self._service.app,
            lifespan="on",
            log_config=None,
            access_log=False,
            ws="none",
            loop="asyncio",
            timeout_graceful_shutdown=math.ceil(_STOP_GRACE),
        )
        server = _Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": self._sockets},
            name=f"flux2-emulator-{bound[0]}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start within {_START_TIMEOUT:g} s")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and release the ports. Pending webhook deliveries are dropped."""
        if self._stopped:
            return
        self._stopped = True
        if self._service is not None:
            self._service.begin_stop()
        if self._server is not None:
            self._server.wake_to_exit()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(_STOP_GRACE + 2)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(5)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self._service is None:
            return "<Emulator (not started)>"
        state = "stopped" if self._stopped else "running"
        return f"<Emulator {self._service.origins.api} {state}>"

    def _close_connection(self, scope: Scope) -> bool:
        """Close the client connection that ``scope`` arrived on (a dropped answer)."""
        server = self._server
        client = scope.get("client")
        if server is None or client is None:
            return False
        for connection in list(server.server_state.connections):
            if getattr(connection, "client", None) == tuple(client):
                connection.transport.close()
                return True
        return False

    @property
    def _running(self) -> Service:
        if self._service is None:
            raise RuntimeError(
                "the emulator is not started: use it in a with block or call start()"
            )
        return self._service

    # -- where it listens ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the API: submit, ``get_result``, ``credits``."""
        return self._running.origins.api

    @property
    def polling_origin(self) -> str:
        """The origin every task's ``polling_url`` points at."""
        return self._running.origins.polling

    @property
    def delivery_origin(self) -> str:
        """The origin of the signed result URLs."""
        return self._running.origins.delivery

    # -- settings ------------------------------------------------------------------------

    @property
    def api_key(self) -> str | None:
        """The accepted key (None: any non-empty key)."""
        return self._config.api_key

    @property
    def speed(self) -> float:
        return self._config.speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"speed must be a number >= 0, got {value!r}")
        self._config.speed = float(value)

    @property
    def result_ttl(self) -> float:
        return self._config.result_ttl

    @result_ttl.setter
    def result_ttl(self, value: float) -> None:
        self._config.result_ttl = float(value)

    @property
    def max_in_flight(self) -> int:
        return self._config.max_in_flight

    @max_in_flight.setter
    def max_in_flight(self, value: int) -> None:
        self._config.max_in_flight = int(value)

    @property
    def credits(self) -> float:
        """The balance: starts at ``credits``, goes down by each submit's cost."""
        if self._service is None:
            return self._initial_credits
        with self._service.lock:
            return self._service.credits

    @credits.setter
    def credits(self, value: float) -> None:
        if self._service is None:
            self._initial_credits = float(value)
            return
        with self._service.lock:
            self._service.credits = float(value)

    def set_faults(self, *faults: str | Fault | Iterable[str | Fault]) -> None:
        """Replace the server-wide faults (``set_faults()`` clears them); counts start anew."""
        parsed: list[Fault] = []
        for item in faults:
            parsed.extend(parse_faults(item))
        if self._service is None:
            self._initial_faults = tuple(parsed)
            return
        with self._service.lock:
            self._service.server_faults = FaultSet(parsed)

    @property
    def faults(self) -> tuple[str, ...]:
        """The server-wide faults in force, written as ``NAME=ARG``."""
        if self._service is None:
            return tuple(f.spec for f in self._initial_faults)
        with self._service.lock:
            return tuple(f.spec for f in self._service.server_faults.faults)

    # -- what happened -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received (the last ``history``), on every origin, in order of arrival
        (a copy)."""
        if self._service is None:
            return []
        with self._service.lock:
            return list(self._service.requests)

    @property
    def tasks(self) -> dict[str, EmulatedTask]:
        """The tasks created, by id (a copy of the mapping; the tasks are live). Past
        ``history`` tasks, the oldest finished ones are forgotten."""
        if self._service is None:
            return {}
        with self._service.lock:
            return dict(self._service.tasks)

    def submissions(self, prompt: str | None = None) -> list[EmulatedTask]:
        """Tasks created, in order, optionally only those with exactly this prompt: what was
        submitted (and billed), to assert that something was submitted exactly once."""
        return [t for t in self.tasks.values() if prompt is None or t.prompt == prompt]

    @property
    def webhooks(self) -> list[WebhookDelivery]:
        """The webhook delivery attempts (the last ``history``; a copy)."""
        if self._service is None:
            return []
        with self._service.lock:
            return list(self._service.webhooks)

    # -- clients -------------------------------------------------------------------------

    def client_options(self) -> dict[str, Any]:
        """What a flux2 client needs to use this emulator at its speed: ``base_url``,
        ``api_key`` (the accepted one, or ``ANY_KEY``) and ``poll_schedule``
        (``PollSchedule(scale=speed)``, so polls follow the simulated times)."""
        from flux2 import PollSchedule

        return {
            "api_key": self.api_key if self.api_key is not None else ANY_KEY,
            "base_url": self.base_url,
            "poll_schedule": PollSchedule(scale=self.speed),
        }

    def client(self, **options: Any) -> flux2.Client:
        """A :class:`flux2.Client` for this emulator (:meth:`client_options`); ``options`` are
        ``Client``'s keywords and win over those. The schedule follows the speed at the time of
        the call. Close it (or use it in a ``with`` block) when done."""
        from flux2 import Client

        return Client(**{**self.client_options(), **options})

    def async_client(self, **options: Any) -> flux2.AsyncClient:
        """A :class:`flux2.AsyncClient` for this emulator, like :meth:`client`."""
        from flux2 import AsyncClient

        return AsyncClient(**{**self.client_options(), **options})

    def sample_url(self, task: EmulatedTask | str) -> str:
        """The signed result URL of a task, as a poll would give it once the task is Ready."""
        service = self._running
        found = task if isinstance(task, EmulatedTask) else service.tasks[task]
        return service.sample_url(found)


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    speed: float = 1.0,
    profile: str = DEFAULT_PROFILE,
    seed: int = 0,
    credits: float = DEFAULT_CREDITS,
    result_ttl: float = DEFAULT_RESULT_TTL,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    faults: str | Iterable[str] | None = None,
    result_size: int | None = None,
    history: int = DEFAULT_HISTORY,
    out: IO[str] | None = None,
    poll_scale_env: str | None = None,
) -> None:
    """Run an emulator until Ctrl-C (``flux2 mock``), saying where it listens, and, faster
    than live, how a client matches its speed (``poll_scale_env`` names the variable the
    ``flux2`` command reads for that)."""
    stream = out if out is not None else sys.stdout
    emulator = Emulator(
        api_key,
        speed=speed,
        profile=profile,
        seed=seed,
        credits=credits,
        result_ttl=result_ttl,
        max_in_flight=max_in_flight,
        faults=faults,
        host=host,
        port=port,
        result_size=result_size,
        history=history,
    )
    with emulator:
        key = api_key if api_key is not None else "any-key"
        # A client polling on the live schedule waits far longer than a faster emulator needs.
        scaled = poll_scale_env is not None and speed < 1
        match = f"{poll_scale_env}={speed:g} " if scaled else ""
        lines = [
            f"flux2 emulator of the BFL API at {emulator.base_url}",
            f"  polling {emulator.polling_origin}, results {emulator.delivery_origin}",
            f"  key: {'any non-empty key' if api_key is None else 'the one given'}; "
            f"speed x{speed:g}, timing {profile!r}; {credits:g} credits"
            + (f"; faults: {', '.join(emulator.faults)}" if emulator.faults else ""),
            "Try, in another terminal:",
            f"  {match}BFL_BASE_URL={emulator.base_url} "
            f"BFL_API_KEY={key if api_key is None else '...'}"
            ' flux2 generate "a lighthouse at dawn" -o lighthouse.jpg',
        ]
        if scaled:
            lines.append(
                f"  {poll_scale_env}={speed:g} makes a flux2 command poll at this speed; in "
                f"Python, pass poll_schedule=flux2.PollSchedule(scale={speed:g}) to the client."
            )
        lines.append("Ctrl-C stops it.")
        print("\n".join(lines), file=stream, flush=True)
        thread = emulator._thread
        with contextlib.suppress(KeyboardInterrupt):
            while thread is not None and thread.is_alive():
                thread.join(0.5)
    print("flux2 emulator stopped", file=stream, flush=True)

"""The daemon's life: bind, drop privileges, serve, reload on SIGHUP, stop on SIGTERM.

Order matters: listeners are bound (or taken from systemd socket activation) and the secrets
read while still privileged; then privileges are dropped; only then is READY=1 sent, so a
client that sees the daemon ready can connect. SIGTERM/SIGINT stop accepting, answer what was
already read, flush replies (waiting up to ``DRAIN_SECONDS`` for slow readers) and exit 0; a
second SIGTERM/SIGINT exits at once.

Descriptors: every connection costs one. The connection limit is kept below RLIMIT_NOFILE
(raising the soft limit towards the hard one first), so that at the limit a newcomer evicts an
idle connection instead of accept() failing with EMFILE, which asyncio answers by logging a
traceback for every pending connection and retrying each second while idle clients hold every
descriptor. asyncio accepts up to ``backlog`` sockets per wake-up before any is admitted, so
listeners are served with a small ``ACCEPT_BATCH`` and the kernel queue is then widened to
``BACKLOG``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from pysrsd import build
from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.observe import logs, metrics
from pysrsd.policy import tables
from pysrsd.policy.runtime import Runtime
from pysrsd.service import janitor, privileges, systemd
from pysrsd.service.hub import Hub
from pysrsd.service.reloads import Reloads
from pysrsd.service.server import EVENTS_PER_TURN, SEND_BUFFER, Connection, factory, housekeeping
from pysrsd.service.unix_socket import bind_unix
from pysrsd.wire.lookup import Codec, Table
from pysrsd.wire.socketmap import SocketmapCodec
from pysrsd.wire.tcp_table import TcpTableCodec

log = structlog.get_logger("pysrsd")
BACKLOG = 1024
ACCEPT_BATCH = 16  # sockets accepted per wake-up of a listener
FD_RESERVE = 64  # descriptors kept for listeners, logs, reloads and the loop itself
DRAIN_SECONDS = 5.0
Listener = tuple[str, asyncio.Server]
Opener = Callable[[Callable[[], Connection]], Awaitable[asyncio.Server]]


def _adopted(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> Opener:
    def open_(make: Callable[[], Connection]) -> Awaitable[asyncio.Server]:
        return loop.create_server(make, sock=sock, backlog=ACCEPT_BATCH)

    return open_


def _adopted_unix(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> Opener:
    def open_(make: Callable[[], Connection]) -> Awaitable[asyncio.Server]:
        return loop.create_unix_server(make, sock=sock, backlog=ACCEPT_BATCH)

    return open_


def _tcp(loop: asyncio.AbstractEventLoop, host: str, port: int) -> Opener:
    def open_(make: Callable[[], Connection]) -> Awaitable[asyncio.Server]:
        return loop.create_server(make, host, port, reuse_address=True, backlog=ACCEPT_BATCH)

    return open_


class Daemon:
    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.hub = Hub(runtime, settings.max_connections, settings.idle_timeout)
        self.metrics = metrics.build(settings, runtime, self.hub)  # ConfigError: no library
        self.stop = asyncio.Event()
        self.listeners: list[Listener] = []
        self.unix_sockets: list[tuple[Path, int]] = []  # (path, inode): removed at exit
        self.shown: dict[asyncio.Server, str] = {}  # where a listener is, for its log line

    def _codecs(self, name: str) -> tuple[Table | None, Callable[[], Codec]]:
        if name in ("forward", "reverse"):  # max-line as it is now: a reload may change it
            return Table(name), lambda: TcpTableCodec(self.settings.max_line, EVENTS_PER_TURN)
        if name == "socketmap":
            return None, lambda: SocketmapCodec(EVENTS_PER_TURN)
        raise ConfigError(
            f"LISTEN_FDNAMES: unknown socket name {name!r} (forward|reverse|socketmap)"
        )

    async def _serve(self, name: str, where: str, open_: Opener) -> None:
        table, codec = self._codecs(name)
        lookup = self.metrics.meter("socketmap" if table is None else "tcp_table", tables.lookup)
        try:
            server = await open_(factory(self.hub, table, codec, lookup))
        except OSError as exc:
            raise ConfigError(
                f"listen: cannot listen on {where} ({name}): {exc.strerror}"
            ) from None
        for listening in server.sockets:  # asyncio's listen() used ACCEPT_BATCH: widen it
            with socket.socket(fileno=os.dup(listening.fileno())) as dup:
                dup.listen(BACKLOG)
                # Accepted TCP sockets inherit it: a peer that never reads holds tens of
                # kilobytes of replies in the kernel, not the megabytes autotuning allows.
                dup.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.listeners.append((name, server))

    async def bind(self) -> None:
        loop = asyncio.get_running_loop()
        activated = systemd.listen_fds()
        for name, sockets in activated.items():
            for sock in sockets:
                await self._serve(name, "LISTEN_FDS", _adopted(loop, sock))
        if activated:
            missing = {"forward", "reverse"} - activated.keys()
            if missing and "socketmap" not in activated:
                log.warning("activation_incomplete", missing=sorted(missing))
            return
        s = self.settings
        for host in s.listen:
            for name, port in (("forward", s.forward_port), ("reverse", s.reverse_port)):
                await self._serve(name, f"{host} port {port}", _tcp(loop, host, port))
        for endpoint in s.socketmap:
            kind, _, rest = endpoint.partition(":")
            if kind == "unix":  # mode by umask, owner never through a symlink
                owner = privileges.resolve_ids(s.user, s.group) if s.user or s.group else None
                sock, inode = bind_unix(Path(rest), s.socketmap_mode, owner, BACKLOG)
                self.unix_sockets.append((Path(rest), inode))
                await self._serve("socketmap", rest, _adopted_unix(loop, sock))
                # bound by a name relative to a staging directory: getsockname() says "socket"
                self.shown[self.listeners[-1][1]] = endpoint
            else:
                host, _, port_text = rest.rpartition(":")
                host = host[1:-1] if host.startswith("[") else host
                await self._serve("socketmap", rest, _tcp(loop, host, int(port_text)))

    async def _serve_metrics(self) -> None:
        """The /metrics endpoint, bound like the listeners (before privileges are dropped),
        also under socket activation: it is not one of the sockets systemd passes."""
        if self.metrics.registry is None or self.settings.metrics is None:
            return
        from pysrsd.observe import metrics_http

        try:
            server = await metrics_http.Endpoint(self.metrics.registry).listen(
                self.settings.metrics
            )
        except OSError as exc:
            raise ConfigError(
                f"metrics: cannot listen on {self.settings.metrics}: {exc.strerror}"
            ) from None
        self.listeners.append(("metrics", server))

    def _apply(self, settings: Settings) -> None:
        """What a reload changes outside the State: logs, and limits on connections (new
        connections get the new max-line; those open keep theirs)."""
        old, self.settings = self.settings, settings
        if (settings.log_level, settings.log_format) != (old.log_level, old.log_format):
            logs.configure(
                settings.log_level, settings.log_format, journal=systemd.journal_stderr()
            )
        self.hub.idle_timeout = settings.idle_timeout
        if settings.max_connections != old.max_connections:
            self.hub.max_connections = connection_limit(settings.max_connections, self._reserve())

    def _reserve(self) -> int:
        return ACCEPT_BATCH * len(self.listeners) + FD_RESERVE

    def _on_term(self, signame: str) -> None:
        if self.stop.is_set():
            log.warning("stop_forced", signal=signame)
            os._exit(1)
        log.info("stopping", signal=signame)
        self.stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        await self.bind()
        await self._serve_metrics()
        self.hub.max_connections = connection_limit(self.settings.max_connections, self._reserve())
        if os.geteuid() == 0 and (self.settings.user or self.settings.group):
            janitor.start(self.settings.pidfile, tuple(self.unix_sockets))  # stays root
        privileges.drop_privileges(self.settings.user, self.settings.group)
        privileges.refuse_root(self.settings.allow_root)
        loop.add_signal_handler(signal.SIGHUP, Reloads(self.runtime, self._apply).signalled)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_term, sig.name)
        for name, server in self.listeners:
            for sock in server.sockets:
                log.info("listening", table=name, address=self.shown.get(server, _address(sock)))
        envelopes = self.runtime.envelopes
        if envelopes is not None:  # opened unprivileged, as the daemon's account; never fatal
            await envelopes.probe()
        keeper = asyncio.create_task(housekeeping(self.hub))
        systemd.notify("READY=1", f"STATUS=serving {self.settings.domain}")
        flavour = type(asyncio.get_running_loop()).__module__.partition(".")[0]
        log.info("ready", domain=self.settings.domain, pid=os.getpid(), loop=flavour, build=build())
        await self.stop.wait()
        systemd.notify("STOPPING=1")
        await self._drain()
        keeper.cancel()
        janitor.remove_ours(os.getpid(), None, tuple(self.unix_sockets))
        if envelopes is not None:
            await envelopes.close()
        log.info("stopped")
        return 0

    async def _drain(self) -> None:
        for _, server in self.listeners:
            server.close()
        for _ in range(3):  # reads the loop has already seen are dispatched and answered
            await asyncio.sleep(0.01)
        self.hub.close_all()  # flush, FIN, and wait for the peers to close
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        while self.hub.closing and loop.time() < deadline:  # Python 3.11's wait_closed()
            await asyncio.sleep(0.02)  # does not wait for connections: watch them here
        for conn in list(self.hub.closing):
            conn.abandon()
        for _, server in self.listeners:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), max(0.0, deadline - loop.time()))


def connection_limit(wanted: int, reserve: int) -> int:
    """``wanted``, or fewer if RLIMIT_NOFILE cannot give each connection a descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + reserve
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    limit = max(1, soft - reserve)
    log.warning(
        "connection_limit_lowered",
        max_connections=limit,
        wanted=wanted,
        rlimit_nofile=soft,
        advice="raise the descriptor limit (systemd LimitNOFILE=, ulimit -n)",
    )
    return limit


def _address(sock: socket.socket) -> str:
    name = sock.getsockname()
    if isinstance(name, tuple):
        host, port = name[0], name[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"unix:{name}"


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to run on: uvloop when chosen, or for "auto" when it is installed
    (the ``speed`` extra); None means asyncio's own."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("--event-loop: uvloop is not installed (pysrsd[speed])") from None
        return None
    return uvloop.new_event_loop


def run(settings: Settings, runtime: Runtime) -> int:
    async def main() -> int:
        return await Daemon(settings, runtime).run()

    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        return runner.run(main())

"""Serving the emulated NCP to a host: over TCP (bellows' `socket://HOST:PORT`) or a
pseudo-terminal, on asyncio, with the radio's medium paced by the wall clock.

The stick's radio runs in a discrete-event machine (a `boards.simulator.Simulator`, given
by the caller: han does not import boards); `ClockBridge` runs its events on
the asyncio loop when their time comes on the loop's clock (1x), so the HAN, the serial
link and the host share one thread and one notion of time. One host is served at a time:
a new TCP connection replaces the old one (a host that lost its link reconnects before
the server notices), and each connection starts as a powered-up stick does, with RSTACK.
Between connections the stick keeps its NVM, so the host finds its network again.

`--medium udp` puts the radio on the loopback UDP medium: its participant binds the same
port number as the TCP listener and learns its peers from the datagrams it receives, so
radios in other processes need only that port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from han.ncp.ash import AshLink, ResetCode
from han.ncp.ezsp import EzspEndpoint
from han.ncp.stack import EmulatedNcp
from han.radio.medium import Medium
from han.radio.udp import UdpParticipant

LOG = logging.getLogger(__name__)

DEFAULT_EUI64 = 0x000D6F00_0A5C0001    # a Silicon Labs OUI, as on a real stick
TICK = 0.05                            # seconds: longest sleep while nothing is due


class Machine(Protocol):
    """What the bridge needs of the simulator that runs the radio."""

    def now(self) -> datetime: ...

    def schedule(self, callback: Callable[[], None], name: str = "", *,
                 at: datetime | None = None, after: timedelta | None = None) -> Any: ...

    def cancel(self, timer: Any) -> bool: ...

    def run_until(self, until: datetime) -> Any: ...

    def next_time(self) -> datetime | None: ...


class ClockBridge:
    """Runs `sim` on the asyncio loop against the loop's clock."""

    def __init__(self, sim: Machine) -> None:
        self.sim = sim
        self._origin: tuple[datetime, float] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._origin = (self.sim.now(), loop.time())
        self._task = loop.create_task(self._run(), name="ncp clock")

    def wake(self) -> None:
        """Something was scheduled: look at the queue now."""
        self._wake.set()

    def catch_up(self) -> None:
        """Bring the machine's clock to the wall clock (running what fell due), so that
        what is done next from outside (a host command, a frame from another process) is
        timed from now, not from the last event."""
        if self._origin is not None:
            self._run_due()

    def _run_due(self) -> None:
        try:
            self.sim.run_until(max(self.virtual_now(), self.sim.now()))
        except Exception:       # a fault in the emulated stack must not stop the clock
            LOG.exception("NCP: an event failed")

    def virtual_now(self) -> datetime:
        assert self._origin is not None
        start, wall = self._origin
        return start + timedelta(seconds=asyncio.get_running_loop().time() - wall)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            self._run_due()
            due = self.sim.next_time()
            delay = TICK if due is None else min(TICK, (due - self.virtual_now())
                                                 .total_seconds())
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            # asyncio.wait, not wait_for: on 3.11 wait_for can swallow a cancellation
            waiter = loop.create_task(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=delay)
            finally:
                waiter.cancel()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None


class Session:
    """One host connection: ASH over the transport, EZSP over ASH, onto the NCP."""

    def __init__(self, server: NcpServer, write: Any, *, announce: bool) -> None:
        loop = asyncio.get_running_loop()
        self.server = server
        ncp = server.ncp
        self.ezsp = EzspEndpoint(self._command, self._send)
        self.ash = AshLink(write, self.ezsp.receive, loop, on_reset=self._reset)
        ncp.reset()
        ncp.emit = self.ezsp.callback
        if announce:
            self.ash.start(ResetCode.POWER_ON)

    def _send(self, frame: bytes) -> None:
        self.ash.send(frame)

    def _command(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        self.server.clock.catch_up()
        try:
            return self.server.ncp.handle(name, params)
        finally:
            self.server.clock.wake()

    def _reset(self) -> None:
        self.server.ncp.reset()
        self.ezsp.reset()

    def receive(self, data: bytes) -> None:
        self.ash.receive(data)
        self.server.clock.wake()

    def close(self) -> None:
        self.ash.close()
        if self.server.ncp.emit == self.ezsp.callback:
            self.server.ncp.emit = self.server.ncp._no_host


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, server: NcpServer) -> None:
        self.server = server
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._replace(self)
        self.session = Session(self.server, transport.write, announce=True)
        LOG.info("NCP: host connected from %s", transport.get_extra_info("peername"))

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.receive(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.server._current is self:
            self.server._current = None
        LOG.info("NCP: host disconnected (%s)", exc or "closed")

    def drop(self) -> None:
        if self.transport is not None:
            self.transport.close()


class NcpServer:
    """An emulated EZSP stick served to hosts. Build it inside a running loop."""

    def __init__(self, sim: Machine, *, eui64: int = DEFAULT_EUI64,
                 medium: Medium | None = None, nvm: dict[str, Any] | None = None) -> None:
        self.sim = sim
        self.medium = medium or Medium(sim)
        self.ncp = EmulatedNcp(eui64, self.medium, self.sim, nvm=nvm)
        self.clock = ClockBridge(self.sim)
        self.participant: UdpParticipant | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._current: _TcpProtocol | None = None
        self._pty: tuple[int, int, Session] | None = None

    async def start(self) -> None:
        self.clock.start()

    def use_udp_medium(self, port: int) -> int:
        """Bridge the medium to the loopback UDP medium on `port`; returns the port."""
        self.participant = UdpParticipant(self.medium, port=port, learn_peers=True)
        asyncio.get_running_loop().add_reader(self.participant.socket, self._datagrams)
        return self.participant.port

    def _datagrams(self) -> None:
        assert self.participant is not None
        self.clock.catch_up()
        if self.participant.poll():
            self.clock.wake()

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        """Serve over TCP; returns the bound address (port 0 picks a free one)."""
        server = await asyncio.get_running_loop().create_server(
            lambda: _TcpProtocol(self), host, port)
        self._servers.append(server)
        bound = server.sockets[0].getsockname()
        return bound[0], bound[1]

    def _replace(self, protocol: _TcpProtocol) -> None:
        old, self._current = self._current, protocol
        if old is not None:
            LOG.info("NCP: a new host replaces the connected one")
            if old.session is not None:
                old.session.close()
                old.session = None
            old.drop()

    def drop_host(self) -> None:
        """Close the host's connection (tests: a dropped serial link)."""
        if self._current is not None:
            self._current.drop()

    def open_pty(self) -> str:
        """Serve on a new pseudo-terminal; returns the path a host opens."""
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)

        def write(data: bytes) -> None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(master, data)
        session = Session(self, write, announce=False)
        self._pty = (master, slave, session)

        def readable() -> None:
            try:
                data = os.read(master, 4096)
            except (BlockingIOError, OSError):
                return
            if data:
                session.receive(data)
        asyncio.get_running_loop().add_reader(master, readable)
        return os.ttyname(slave)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for server in self._servers:
            server.close()
            await server.wait_closed()
        self._servers.clear()
        if self._current is not None:
            self._current.drop()
        if self._pty is not None:
            master, slave, session = self._pty
            loop.remove_reader(master)
            session.close()
            os.close(master)
            os.close(slave)
            self._pty = None
        if self.participant is not None:
            loop.remove_reader(self.participant.socket)
            self.participant.close()
            self.participant = None
        await self.clock.stop()

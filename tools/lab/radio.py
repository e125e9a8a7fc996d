"""`smetslab lab --radio RADIO:PATH`: the premises' comms hub on a ZigBee coordinator
stick (`han.radio.dongle`), and the clock and loop that go with it.

With a stick, virtual time is the wall clock: `WallClockSimulator` runs each event when
its time comes, and while it waits it pumps the asyncio loop zigpy runs on, so frames
from the stick reach the hub's clusters as they arrive. The CHF's endpoint (Tunneling,
Key Establishment, the GPF's mirror sync) and each ESME's endpoint (its ZSE servers) are
on the stick; GBCS for an ESME is handed over inside the hub, as for the GPF.

The premises' other devices (GSME, PPMID, IHD, CADs) are emulated radios. They can reach
the stick only when it is the emulated stick (`smetslab ncp serve ... --medium udp` on
this machine, `RADIO:socket://127.0.0.1:PORT`): the lab then puts them on the loopback
UDP medium (`han.radio.udp`, peer port PORT); for the scripted tour (`skip_idle`), since
every radio on that medium is ours, virtual time skips the gaps in which nothing is in
flight (the tour's 30-minute gas wake takes seconds). Otherwise the lab runs at 1x; with
a real stick it serves real devices only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from boards.board import DeviceType, Premises
from boards.simulator import RunResult, Simulator, SimulatorError, utc
from han.cbke.ca import CertificateAuthority
from han.key_establishment import KeyEstablishmentCluster
from han.radio import Medium, UdpParticipant
from han.radio.dongle import (
    INSTALL_CODES,
    LINK_KEYS,
    SE_ENDPOINTS,
    Dongle,
    DongleError,
    RadioSpec,
    StickDeviceLog,
    StickTrustCentre,
    check_supports,
    parse_radio,
)

LOGGER = logging.getLogger(__name__)
SLICE = 0.02                              # seconds: longest pump between clock updates
QUIET = 0.02                              # seconds without traffic before time may skip
SKIP_AFTER = timedelta(milliseconds=5)    # gaps shorter than this are simply waited
ESME_ENDPOINT = 2                         # the first ESME's endpoint on the stick
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

__all__ = ["DongleError", "RadioSession", "WallClockSimulator", "parse_radio"]


class WallClockSimulator(Simulator):
    """A simulator whose clock is the wall clock (see module doc). `pump(seconds)`
    runs the asyncio loop for up to that long; `may_skip()` says nothing is in flight,
    so a gap can be skipped instead of waited."""

    def __init__(self, start: datetime, seed: int, pump: Callable[[float], None],
                 may_skip: Callable[[], bool] = lambda: False, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(start, seed, keep_trace=False)
        self._pump, self._may_skip, self._monotonic = pump, may_skip, monotonic
        self._origin = (utc(start), monotonic())
        self.skipped = timedelta(0)

    def anchor(self) -> None:
        """From now on the clock follows the wall clock from where it stands (a stick
        takes seconds to start; that wait is not the premises' time)."""
        self._origin = (self.now(), self._monotonic())
        self.skipped = timedelta(0)

    def wall_now(self) -> datetime:
        """The virtual time the wall clock has reached (skips included)."""
        start, wall = self._origin
        return start + timedelta(seconds=self._monotonic() - wall) + self.skipped

    def run_until(self, until: datetime) -> RunResult:
        until = utc(until, "run_until")
        if until < self.now():
            raise SimulatorError(f"run_until {until.isoformat()} is before now "
                                 f"({self.now().isoformat()})")
        count = 0
        while True:
            reached = max(min(self.wall_now(), until), self.now())
            result = super().run_until(reached)
            count += result.events
            if result.stopped_at is not None:
                return RunResult(count, result.stopped_at)
            if reached >= until:
                return RunResult(count)
            due = self.next_time()
            target = until if due is None else min(due, until)
            gap = target - reached
            if gap > SKIP_AFTER and self._may_skip():
                self.skipped += gap
                continue
            self._pump(min(gap.total_seconds(), SLICE))


class RadioSession:
    """One stick for one lab run: the spec, the asyncio loop, the dongle, the UDP bridge
    for the lab's emulated devices. Build the lab with it, then `start()`."""

    def __init__(self, text: str, report: Callable[[str, str], None] = lambda k, t: None,
                 *, skip_idle: bool = False) -> None:
        self.spec: RadioSpec = parse_radio(text)
        self.report = report
        self.emulated = self.is_emulated(text)
        self.skip_idle = skip_idle and self.emulated   # only when every radio is ours
        self.peer_port = int(self.spec.path.rpartition(":")[2]) if self.emulated else None
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_library_fault)
        self.dongle: Dongle | None = None
        self.participant: UdpParticipant | None = None
        self.medium: Medium | None = None
        self._wake = asyncio.Event()
        self._last_traffic = time.monotonic()
        self._said_real = False

    @staticmethod
    def is_emulated(text: str) -> bool:
        """A stick on socket://127.0.0.1:PORT is taken for the emulated one."""
        path = parse_radio(text).path
        host = path.removeprefix("socket://").rpartition(":")[0]
        return path.startswith("socket://") and host in LOOPBACK_HOSTS

    # -- what the lab asks while it builds ---------------------------------------------------

    def check(self, premises: Premises) -> None:
        """Refuse a stick whose library cannot serve this premises (typed, at start)."""
        needs = {INSTALL_CODES, SE_ENDPOINTS}
        if premises.of_type(DeviceType.GSME) or premises.of_type(DeviceType.PPMID):
            needs.add(LINK_KEYS)        # Type 1 devices run CBKE with the hub
        check_supports(self.spec, needs)

    def simulator(self, start: datetime, seed: int) -> WallClockSimulator:
        self.sim = WallClockSimulator(start, seed, self.pump,
                                      self.may_skip if self.skip_idle else lambda: False)
        return self.sim

    def coordinator(self, eui64: int, pan_id: int, network_key: bytes
                    ) -> tuple[Dongle, StickDeviceLog, StickTrustCentre]:
        """The CHF's radio and trust centre on the stick."""
        dongle = Dongle(self.spec, eui64, self.sim, self.loop, pan_id=pan_id,
                        network_key=network_key,
                        report=lambda text: self.report("han", f"stick: {text}"))
        original = dongle.packet_received

        def heard(packet) -> None:              # frames from the stick wake the clock
            self._traffic()
            original(packet)
        dongle.packet_received = heard          # type: ignore[method-assign]
        self.dongle = dongle
        log = StickDeviceLog(dongle)
        return dongle, log, StickTrustCentre(dongle, log)

    def hosts(self, board_type: DeviceType) -> bool:
        """Whether the lab runs this device's radio: ESMEs are endpoints on the stick;
        the others only when the stick is the emulated one."""
        if board_type is DeviceType.ESME or self.emulated:
            return True
        if not self._said_real:
            self._said_real = True
            self.report("han", f"{self.spec}: a real stick; the lab's emulated GSME, "
                               "PPMID and IHD stay off (pair real devices with the "
                               "device log)")
        return False

    def bridge(self, medium: Medium) -> None:
        """Put the lab's emulated devices on the emulated stick's UDP medium."""
        if not self.emulated:
            return
        self.medium = medium
        self.participant = UdpParticipant(medium, peers=[self.peer_port])
        medium.add_tap(lambda stamp, channel, frame: self._traffic())
        self.loop.add_reader(self.participant.socket, self._datagrams)

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to the stick and form the HAN (DongleError when it cannot)."""
        if self.dongle is None:
            raise DongleError(f"{self.spec}: the lab has not put its hub on the stick")
        self.report("han", f"{self.spec}: starting the stick "
                           f"({self.spec.library.name})")
        self.loop.run_until_complete(self.dongle.start())
        self.sim.anchor()
        self.report("han", f"{self.spec}: HAN formed on channel {self.dongle.channel}, "
                           f"PAN 0x{self.dongle.pan_id:04X}, install-code joining only")

    def enrol_stick(self, zse_ca: CertificateAuthority,
                    clusters: list[KeyEstablishmentCluster], suite: int) -> None:
        """On the HAN the hub is known by the stick's EUI-64 (burnt into the stick), so
        the certificate the CHF presents in CBKE must name it: enrol one under the
        premises' ZSE CA."""
        assert self.dongle is not None
        stick = self.dongle.stick_eui
        if stick != self.dongle.eui64:
            credentials = zse_ca.enrol(stick.to_bytes(8, "big"))
            for ke in clusters:
                ke.credentials[suite] = credentials
            self.report("han", f"stick EUI-64 {stick:016X}: the CHF's ZSE certificate "
                               "for CBKE names it")

    def pump(self, seconds: float) -> None:
        """Run the asyncio loop for up to `seconds`, returning early when a frame
        arrives (so the clock catches up and the frame is handled at once)."""
        self._wake.clear()

        async def wait() -> None:
            try:
                await asyncio.wait_for(self._wake.wait(), max(seconds, 0.0))
            except TimeoutError:
                pass
        self.loop.run_until_complete(wait())

    def may_skip(self) -> bool:
        """Nothing in flight: no command to the stick pending, no frame for QUIET s,
        no radio of the lab joining or waiting for an acknowledgement."""
        return (self.dongle is not None and not self.dongle.busy
                and time.monotonic() - self._last_traffic > QUIET
                and not (self.medium is not None and _in_flight(self.medium)))

    def _traffic(self) -> None:
        self._last_traffic = time.monotonic()
        self._wake.set()

    def _datagrams(self) -> None:
        assert self.participant is not None
        if self.participant.poll():
            self._traffic()

    def close(self) -> None:
        if self.participant is not None:
            self.loop.remove_reader(self.participant.socket)
            self.participant.close()
        if self.dongle is not None:
            self.loop.run_until_complete(self.dongle.close())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


def _library_fault(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A radio library's own task that failed (bellows' ASH sends when the link drops):
    the dongle has seen the drop and reconnects; keep it out of the lab's screen."""
    LOGGER.debug("radio library: %s %r", context.get("message"), context.get("exception"))


def _in_flight(medium: Medium) -> bool:
    """A radio of the lab is mid-exchange: joining, a MAC frame waiting for its ack, an
    APS frame waiting for its ack, blocks being reassembled."""
    return any(getattr(radio, "_join", None) is not None
               or getattr(radio, "_tx_busy", None) is not None
               or getattr(radio, "_tx_queue", None)
               or getattr(radio, "_outgoing", None)
               or getattr(radio, "_reassembly", None) for radio in medium.radios)


def wall_start() -> datetime:
    """A run on a stick starts now: its clock is the wall clock."""
    return datetime.now(UTC).replace(microsecond=0)

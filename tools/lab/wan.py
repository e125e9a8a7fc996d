"""The lab's DCC and WAN: a `tools.headend.Dcc` whose WAN link hands GBCS to the CHF
(`to_chf`), which routes it by recipient through the HAN tunnels; what devices and the
CHF send back comes over the WAN (`up`) to the DCC, which answers the User.

The DCC knows the premises' devices as Commissioned, the Supplier (IS) as registered for
the MPANs and MPRNs, and the Network Operator (ED). Every GBCS message crossing the WAN
can be traced as one JSON line {"time", "direction", "hex"}. A DCC User job reads the
ESME's registers (SRV 4.1.1) every 30 minutes, so the HAN carries GBCS all day.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from boards.board import DeviceType, Premises
from boards.simulator import Simulator
from firmware.core.credentials import Role
from tools.headend import access
from tools.headend.access import COMMISSIONED, Device, User
from tools.headend.dcc import Accepted, Dcc, DccKeys
from tools.headend.duis import DuisError, Element, RequestId, ServiceRequest, ServiceResponse
from tools.lab.pki import USER_ROLES, LabPki

TICK_EVERY = timedelta(seconds=60)         # the DCC looks at held and scheduled requests
USER_READ_EVERY = timedelta(minutes=30)
DOWN, UP = "dcc->chf", "chf->dcc"
_VARIANTS = {"single_element": "", "twin_element": "twin", "polyphase": "polyphase"}

Report = Callable[[str, str], None]


class Trace:
    """Every GBCS message crossing the WAN, one JSON line each."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.count = 0

    def write(self, at: datetime, direction: str, message: bytes) -> None:
        self.count += 1
        if self.stream is not None:
            self.stream.write(json.dumps({"time": at.isoformat(), "direction": direction,
                                          "hex": message.hex().upper()}) + "\n")


@dataclass
class Exchange:
    """What a DCC User saw of one request: the acknowledgement, then the response."""

    srv: str
    request_id: RequestId
    acknowledgement: ServiceResponse | None = None
    response: ServiceResponse | None = None
    refused: DuisError | None = None


@dataclass
class Wan:
    """The DCC of one premises and its WAN link to the CHF (see module doc)."""

    sim: Simulator
    pki: LabPki
    premises: Premises
    db_path: str | Path
    report: Report
    trace: Trace
    dcc: Dcc = field(init=False)
    users: dict[Role, User] = field(default_factory=dict)
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    alerts: list[tuple[bytes, ServiceResponse]] = field(default_factory=list)  # (user, alert)
    to_chf: Callable[[bytes], None] = lambda message: None

    def __post_init__(self) -> None:
        pki = self.pki
        parties_by_eui = {p.eui: p for p in pki.parties.values()}
        keys = DccKeys(
            acb=pki.acb.eui, acb_ka=pki.acb.ka,
            device_ka=lambda eui: pki.devices[eui].ka.public_key()
            if eui in pki.devices else None,
            user_ds=lambda eui: parties_by_eui[eui].ds.public_key()
            if eui in parties_by_eui and parties_by_eui[eui].ds else None)
        self.dcc = Dcc(db_path=self.db_path, keys=keys, wan=self._down, clock=self.sim,
                       deliver=self._deliver)
        self._enrol()
        self.sim.schedule(self._tick, "dcc tick", after=TICK_EVERY)

    def _enrol(self) -> None:
        inventory = self.dcc.inventory
        chf, = self.premises.of_type(DeviceType.CHF)
        # The GPF answers for the gas meter it mirrors: it goes by that meter's MPRN; the
        # PPMID serves the premises' electricity meter: it goes by its MPAN.
        gas_mprn = next((b.mpxn for b in self.premises.of_type(DeviceType.GSME) if b.mpxn), "")
        mpan = next((b.mpxn for b in self.premises.of_type(DeviceType.ESME) if b.mpxn), "")
        served = {DeviceType.GPF: gas_mprn, DeviceType.PPMID: mpan}
        for board in self.premises.boards:
            if inventory.device(board.eui) is None:
                variant = _VARIANTS[board.variant.value] if board.variant else ""
                mpxn = board.mpxn or served.get(board.type, "")
                inventory.add(Device(board.eui, board.type.value, COMMISSIONED, mpxn,
                                     chf.eui, variant))
        for role, duis_role in USER_ROLES.items():
            party = self.pki.parties.get(role)
            if party is None:
                continue
            user = User(party.eui, duis_role, role.value)
            self.users[role] = user
            self.dcc.add_user(user)
        supplier = self.users.get(Role.SUPPLIER)
        operator = self.users.get(Role.NETWORK_OPERATOR)
        for board in self.premises.boards:
            if board.mpxn and supplier is not None:
                role = access.IS if board.type is DeviceType.ESME else access.GS
                inventory.register(board.mpxn, role, supplier.eui)
            if board.mpxn and operator is not None and board.type is DeviceType.ESME:
                inventory.register(board.mpxn, access.ED, operator.eui)

    # -- the WAN -----------------------------------------------------------------------------

    def _down(self, recipient: bytes, message: bytes) -> None:
        """DCC -> CHF."""
        self.trace.write(self.sim.now(), DOWN, message)
        self.to_chf(message)

    def up(self, originator: bytes, message: bytes) -> None:
        """CHF -> DCC: a device's or the CHF's Response or Alert."""
        self.trace.write(self.sim.now(), UP, message)
        self.dcc.receive(message)

    def _tick(self) -> None:
        self.dcc.tick()
        self.sim.schedule(self._tick, "dcc tick", after=TICK_EVERY)

    def _deliver(self, user: bytes, response: ServiceResponse) -> None:
        if response.request_id is not None and str(response.request_id) in self.exchanges:
            exchange = self.exchanges[str(response.request_id)]
            if response.gbcs_payload is not None or response.code != "I99":
                exchange.response = response
            self.report("dcc", f"{exchange.srv} answered {response.code}")
        elif response.alert_code is not None:
            self.alerts.append((user, response))
            self.report("alert", f"alert 0x{response.alert_code:04X} to "
                                 f"{user.hex().upper()}")

    # -- a DCC User ----------------------------------------------------------------------------

    def next_counter(self, user: User) -> int:
        return max(self.dcc.counters.last(user.eui) + 1, 1)

    def request(self, role: Role, target: bytes, srv: str, body: Element, *,
                command_variant: int = 1,
                execution: datetime | None = None) -> ServiceRequest:
        """A DUIS Service Request from the User holding `role`, with its next counter."""
        user = self.users[role]
        rid = RequestId(user.eui, target, self.next_counter(user))
        return ServiceRequest(rid, command_variant, srv.rsplit(".", 1)[0]
                              if srv.count(".") == 2 else srv, srv, body,
                              execution_datetime=execution)

    def submit(self, role: Role, request: ServiceRequest) -> Exchange:
        """Send a request as the User holding `role`; the Exchange fills in as the
        device answers."""
        exchange = Exchange(request.srv, request.request_id)
        self.exchanges[str(request.request_id)] = exchange
        result = self.dcc.submit(request, self.users[role])
        if isinstance(result, DuisError):
            exchange.refused = result
            self.report("error", f"{request.srv} refused: {result}")
        elif isinstance(result, Accepted):
            exchange.acknowledgement = result.response
        return exchange

    def start_user_job(self, esme: bytes) -> None:
        """Every 30 minutes the Supplier reads the ESME's registers (SRV 4.1.1); not while
        one of its future-dated requests is held, which the read's later counter would
        make the device refuse as a replay."""
        def read() -> None:
            supplier = self.users[Role.SUPPLIER].eui
            if not any(rid.originator == supplier for rid, _ in self.dcc.held()):
                self.submit(Role.SUPPLIER, self.request(
                    Role.SUPPLIER, esme, "4.1.1",
                    Element("ReadInstantaneousImportRegisters")))
            self.sim.schedule(read, "dcc user read", after=USER_READ_EVERY)
        self.sim.schedule(read, "dcc user read", after=USER_READ_EVERY)

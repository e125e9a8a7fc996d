"""The lab's gas side: the GSME firmware (`firmware.gsme.Gsme`) on its battery board, and
the frame that carries its 30-minute data sync over the HAN to the GPF in the hub.

The sync's carrier (the lab's choice; GBCS leaves the GSME-GPF mirroring to the
implementation): a manufacturer-specific ZCL command on a private cluster of the
hub's endpoint, APS-secured with the GSME's CBKE link key like its tunnel. Its payload
is the GSME's sync update (`Gsme.sync_data`) as the stores write it (JSON, bytes
tagged), deflated so a day's log entries fit one fragmented APS frame. It is kept off
the GBCS tunnel, which carries only GBCS messages for the DCC.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boards.board import Board, LoadProfile
from boards.nvm import SqliteStore, decode_value, encode_value
from boards.peripherals import VirtualBattery, VirtualValve
from boards.simulator import Simulator
from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.gsme.clock import TimeSource
from firmware.gsme.gsme import Gsme
from han.radio.aps_layer import FRAGMENT_SIZE, MAX_BLOCKS

MIRROR_SYNC = 0xFC53               # private cluster id of the GSME -> GPF sync
LAB_MANUFACTURER = 0x534C          # "SL": the lab's (unregistered) manufacturer code
SYNC_UPDATE = 0x00                 # its one command, client to server
# Frame control: cluster-specific, manufacturer-specific, client to server, no default
# response (ZCL 2.4.1.1).
_FRAME_CONTROL = 0x01 | 0x04 | 0x10
_HEADER = 5                        # frame control, manufacturer code (2), tsn, command
MAX_SYNC_FRAME = MAX_BLOCKS * FRAGMENT_SIZE
DEFAULT_GAS_LOAD = LoadProfile((1.5,))


class SyncFrameError(ValueError):
    """A sync frame the hub cannot take: which field, at which byte offset, and why."""

    def __init__(self, field: str, offset: int, why: str) -> None:
        super().__init__(f"GPF sync frame: {field} at byte {offset}: {why}")
        self.field, self.offset = field, offset


def encode_sync(update: dict[str, Any], tsn: int) -> bytes:
    """The ZCL frame carrying `update`; SyncFrameError when it would not fit the APS."""
    frame = bytes([_FRAME_CONTROL]) + LAB_MANUFACTURER.to_bytes(2, "little") + \
        bytes([tsn & 0xFF, SYNC_UPDATE]) + zlib.compress(encode_value(update).encode())
    if len(frame) > MAX_SYNC_FRAME:
        raise SyncFrameError("payload", _HEADER, f"{len(frame)} octets, more than the "
                                                 f"{MAX_SYNC_FRAME} one APS frame carries")
    return frame


def decode_sync(frame: bytes) -> dict[str, Any]:
    """The sync update a frame carries (the inverse of `encode_sync`)."""
    if len(frame) < _HEADER:
        raise SyncFrameError("header", len(frame), f"{len(frame)} octets, need {_HEADER}")
    if frame[0] != _FRAME_CONTROL:
        raise SyncFrameError("frame control", 0, f"0x{frame[0]:02X}, expected "
                                                 f"0x{_FRAME_CONTROL:02X}")
    if int.from_bytes(frame[1:3], "little") != LAB_MANUFACTURER:
        raise SyncFrameError("manufacturer code", 1, "not the lab's")
    if frame[4] != SYNC_UPDATE:
        raise SyncFrameError("command", 4, f"0x{frame[4]:02X} is not Sync Update")
    try:
        update = decode_value(zlib.decompress(frame[_HEADER:]).decode())
    except (zlib.error, UnicodeDecodeError, ValueError) as err:
        raise SyncFrameError("payload", _HEADER, str(err)) from None
    if not isinstance(update, dict):
        raise SyncFrameError("payload", _HEADER, "not a sync update object")
    return update


class BoardGasLoad:
    """The board's load shape (kW of gas burnt) as the litres the meter's diaphragm
    counts, at the meter's own calorific value and conversion factor (`gsme` is set once
    the meter is built: the meter needs its load, the load the meter's gas data)."""

    def __init__(self, profile: LoadProfile) -> None:
        self.profile = profile
        self.gsme: Gsme | None = None

    def volume_litres(self, start: datetime, end: datetime) -> int:
        kwh_per_m3 = self.gsme.data.kwh(1000) if self.gsme is not None else 0.0
        if kwh_per_m3 <= 0:
            return 0
        return round(self.profile.energy_kwh(start, end) / kwh_per_m3 * 1000)


@dataclass
class GsmeBoard:
    """A GSME on its board: the device and the valve and battery it drives."""

    board: Board
    gsme: Gsme
    valve: VirtualValve
    battery: VirtualBattery


def build_gsme(board: Board, credentials: DeviceCredentials, anchors: TrustAnchors,
               store: SqliteStore, sim: Simulator,
               time_source: TimeSource | None = None) -> GsmeBoard:
    """The GSME of `board`, resuming from `store`; its syncs go nowhere until the lab
    sets `gsme.on_sync`. `time_source` is the HAN's time (the hub's ZCL Time), which
    GCS28 sets the meter's clock from. It checks UTRNs with the gas top-up key the lab
    derives for it, so the Supplier's (CS01b, via the DCC) and the PPMID's verify."""
    # Imported here: tools.lab.ppmid imports the HAN, which imports this module.
    from tools.lab.ppmid import gas_top_up_key, utrn_verifier
    valve, battery = VirtualValve(sim), VirtualBattery(sim)
    load = BoardGasLoad(board.load or DEFAULT_GAS_LOAD)
    gsme = Gsme(credentials, anchors, store, sim, valve, battery=battery, load=load,
                verify_utrn=utrn_verifier(gas_top_up_key(credentials.ka), credentials.eui),
                time_source=time_source)
    load.gsme = gsme
    return GsmeBoard(board, gsme, valve, battery)

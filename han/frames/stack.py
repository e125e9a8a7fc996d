"""Decode a sniffed frame down the stack: 802.15.4 MAC, ZigBee NWK, APS.

The receiver's keys and anti-replay state are the caller's: the network key, link keys
by the peer's IEEE address, and one `FrameCounters` per layer (NWK counters belong to the
network key, APS counters to the link keys). Every failure is a `FrameDecodeError` whose
offset is counted from the first byte of the MAC frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from han.frames.aps import ApsFrame, decode_aps, unsecure_aps
from han.frames.errors import FrameSecurityError, ReplayError
from han.frames.mac import FCS_LENGTH, MacFrame, MacFrameType, decode_mac
from han.frames.nwk import NwkFrame, NwkFrameType, decode_nwk, unsecure_nwk
from han.frames.security import FrameCounters


@dataclass
class Keyring:
    """What a receiver (or sniffer) holds: the network key and the link keys to try on APS
    security, in order, as a sniffer tries every key it was given."""

    network_key: bytes | None = None
    link_keys: Sequence[bytes] = ()
    nwk_counters: FrameCounters = field(default_factory=FrameCounters)
    aps_counters: FrameCounters = field(default_factory=FrameCounters)


@dataclass(frozen=True)
class ZigbeeFrame:
    mac: MacFrame
    nwk: NwkFrame | None = None
    aps: ApsFrame | None = None


def decode_zigbee(frame: bytes, keyring: Keyring) -> ZigbeeFrame:
    """Decode a frame with FCS; NWK and APS layers are decoded for data frames, secured
    layers opened with the keyring's keys (their counters updated on success)."""
    mac = decode_mac(frame)
    if mac.frame_type != MacFrameType.DATA or not mac.body:
        return ZigbeeFrame(mac)
    nwk_bytes = mac.body
    nwk_base = len(frame) - FCS_LENGTH - len(nwk_bytes)
    secured = len(nwk_bytes) >= 2 and nwk_bytes[1] & 0x02
    if secured:
        if keyring.network_key is None:
            raise FrameSecurityError("the NWK frame is secured and no network key is set",
                                     nwk_base, "nwk.security")
        nwk = unsecure_nwk(nwk_bytes, keyring.network_key, keyring.nwk_counters, nwk_base)
    else:
        nwk = decode_nwk(nwk_bytes, nwk_base)
    if nwk.header.frame_type != NwkFrameType.DATA:
        return ZigbeeFrame(mac, nwk)
    aps_base = len(frame) - FCS_LENGTH - len(nwk.payload) - (4 if secured else 0)
    payload = nwk.payload
    if payload and payload[0] & 0x20:
        aps = _open_aps(payload, keyring, _originator(nwk), aps_base)
    else:
        aps = decode_aps(payload, aps_base)
    return ZigbeeFrame(mac, nwk, aps)


def _originator(nwk: NwkFrame) -> int | None:
    """The originator's IEEE address for an APS nonce without the extended-nonce bit: the
    NWK header's source IEEE, else the NWK aux header's (the last hop, which is the
    originator of a one-hop frame)."""
    if nwk.header.source_ieee is not None:
        return nwk.header.source_ieee
    return nwk.aux.source_address if nwk.aux is not None else None


def _open_aps(payload: bytes, keyring: Keyring, originator: int | None, base: int) -> ApsFrame:
    """Try each link key; a replay or malformed header fails at once, a bad MIC tries the
    next key, and the last key's failure is the one raised."""
    if not keyring.link_keys:
        raise FrameSecurityError("the APS frame is secured and no link key is set", base,
                                 "aps.security")
    *others, last = keyring.link_keys
    for key in others:
        try:
            return unsecure_aps(payload, key, keyring.aps_counters, originator, base)
        except FrameSecurityError as error:
            if isinstance(error, ReplayError) or not error.field.endswith(".mic"):
                raise
    return unsecure_aps(payload, last, keyring.aps_counters, originator, base)

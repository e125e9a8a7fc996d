"""The CHF's trust centre: the device log (whitelist) and the keys a joining device gets.

A device joins only when its EUI-64 is in the device log with an install code (whose
CRC is checked and whose AES-MMO hash is the link key) or a link key. The coordinator
then delivers the network key by APS Transport Key, secured with the key-transport key
derived from that link key; a device not in the log is refused at association (PAN access
denied). Removing a device drops it from the log and tells it to leave; a network key
update sends the new key to every joined device, then a Switch Key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from han.cbke.mmo import install_code_link_key
from han.frames.aps_commands import SwitchKey, TransportNetworkKey
from han.frames.security import KeyIdentifier
from han.radio.aps_layer import BROADCAST_RX_ON
from han.radio.node import Node

KEY_SWITCH_DELAY = timedelta(seconds=1)
KEY_DELIVERY_DELAY = timedelta(milliseconds=5)


class DeviceLog:
    """EUI-64 -> install-code (or given) link key, kept in `nvm` under "device_log"."""

    def __init__(self, nvm: MutableMapping[str, Any] | None = None) -> None:
        self.nvm: MutableMapping[str, Any] = nvm if nvm is not None else {}
        self.nvm.setdefault("device_log", {})

    def add_install_code(self, eui64: int, install_code: bytes) -> bytes:
        """Enter a device with its install code (CRC included); returns its link key.
        A wrong length or CRC raises `InstallCodeError` and changes nothing."""
        key = install_code_link_key(install_code)
        self._put(eui64, key)
        return key

    def add_link_key(self, eui64: int, link_key: bytes) -> None:
        if len(link_key) != 16:
            raise ValueError(f"a link key is 16 bytes, not {len(link_key)}")
        self._put(eui64, link_key)

    def _put(self, eui64: int, key: bytes) -> None:
        log = dict(self.nvm["device_log"])
        log[f"{eui64:016X}"] = key.hex()
        self.nvm["device_log"] = log

    def remove(self, eui64: int) -> bool:
        log = dict(self.nvm["device_log"])
        found = log.pop(f"{eui64:016X}", None) is not None
        self.nvm["device_log"] = log
        return found

    def link_key(self, eui64: int) -> bytes | None:
        key = self.nvm["device_log"].get(f"{eui64:016X}")
        return bytes.fromhex(key) if key is not None else None

    def __contains__(self, eui64: int) -> bool:
        return f"{eui64:016X}" in self.nvm["device_log"]

    def __len__(self) -> int:
        return len(self.nvm["device_log"])


class TrustCentre:
    """Runs on the coordinator node: decides joins and rejoins and hands out keys."""

    def __init__(self, node: Node, device_log: DeviceLog) -> None:
        if not node.is_coordinator:
            raise ValueError("the trust centre runs on the coordinator: form the network first")
        self.node = node
        self.device_log = device_log
        self.events: Counter[str] = Counter()
        self._pending_sequence = node.active_key_sequence
        node.join_policy = self._authorise
        node.rejoin_policy = self._authorise_rejoin
        node.on_associated = self._associated
        node.on_device_left = self._left

    def _authorise(self, eui64: int) -> bool:
        if eui64 in self.device_log:
            return True
        self.events["refused"] += 1
        return False

    def _authorise_rejoin(self, eui64: int) -> bool:
        ok = eui64 in self.device_log and eui64 in self.node.link_keys
        self.events["rejoined" if ok else "rejoin_refused"] += 1
        return ok

    def _associated(self, eui64: int, short: int) -> None:
        key = self.device_log.link_key(eui64)
        if key is None:   # removed between association and now
            self.events["refused"] += 1
            return
        self.node.set_link_key(eui64, key)
        self.node.after(KEY_DELIVERY_DELAY, lambda: self._deliver_key(eui64, short, False),
                         "transport key")

    def _deliver_key(self, eui64: int, short: int, nwk_security: bool) -> None:
        node = self.node
        sequence = node.active_key_sequence if not nwk_security else self._pending_sequence
        key = node.network_keys[sequence]
        node.send_aps_command(short, TransportNetworkKey(key, sequence, eui64, node.eui64),
                              key_identifier=KeyIdentifier.KEY_TRANSPORT, partner=eui64,
                              nwk_security=nwk_security)
        self.events["network_key_sent"] += 1

    def _left(self, eui64: int) -> None:
        self.events["left"] += 1

    def remove_device(self, eui64: int) -> bool:
        """Take a device out of the log and tell it to leave; False when it was unknown."""
        known = self.device_log.remove(eui64)
        short = self.node.short_of(eui64)
        if short is not None:
            self.node.request_leave(short)
            self.events["removed"] += 1
        self.node.link_keys.pop(eui64, None)
        return known or short is not None

    def update_network_key(self, new_key: bytes, *,
                           switch_after: timedelta = KEY_SWITCH_DELAY) -> int:
        """Send `new_key` to every joined device (Transport Key under its link key), then
        after `switch_after` broadcast Switch Key and use it. Returns its sequence number."""
        if len(new_key) != 16:
            raise ValueError(f"a network key is 16 bytes, not {len(new_key)}")
        node = self.node
        sequence = (node.active_key_sequence + 1) & 0xFF
        node.network_keys[sequence] = bytes(new_key)
        self._pending_sequence = sequence
        for short, eui in sorted(node.addresses.items()):
            if eui in node.link_keys and short != node.short_address:
                self._deliver_key(eui, short, True)

        def switch() -> None:
            node.send_aps_command(BROADCAST_RX_ON, SwitchKey(sequence), key_identifier=None)
            node.switch_network_key(sequence)
            self.events["key_switched"] += 1
        node.after(switch_after, switch, "switch key")
        return sequence

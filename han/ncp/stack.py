"""The emulated EmberZNet stack behind EZSP: what each command does, with the statuses a
real NCP answers.

State lives where a real NCP keeps it. RAM (lost at every reset, which a host causes with
ASH RST or by reconnecting): configuration values, policies, endpoints, transient link keys,
the multicast and address tables, the running network. Non-volatile (`nvm`, kept by the
owner across resets and serial drops): the node's network, keys and frame counters (the
`han.radio.Node` persistence), the device log of joined devices' link keys, the key
table, the network parameters and the initial security state. So a host that reconnects,
resets and calls `networkInit` gets the same network, with the devices that had joined it.

The radio is a `NcpNode` that forms the network as coordinator and trust centre
(`han.trust_centre.TrustCentre`): a device may associate while joining is permitted and the
trust-centre policy allows joins, with the transient link key the host imported for its
EUI-64 (an install-code key) or, unless the policy asks for install-code keys, the
wildcard transient key. The host hears about joins (`trustCenterJoinHandler`,
`childJoinHandler`), traffic (`incomingMessageHandler`) and the fate of what it sent
(`messageSentHandler`, both in `han.ncp.messaging`) as asynchronous callbacks through `emit`.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, MutableMapping
from datetime import timedelta
from typing import Any

import bellows.types as t

from han.ncp.ezsp import PROTOCOL_VERSION
from han.ncp.messaging import NO_INDEX, Messaging
from han.ncp.node import NcpNode
from han.radio.aps_layer import BROADCAST_ROUTERS, Endpoint
from han.radio.medium import Medium, Scheduler
from han.trust_centre import DeviceLog, TrustCentre

LOG = logging.getLogger(__name__)

STACK_TYPE = 2                      # mesh stack
STACK_VERSION = 0x7450              # EmberZNet 7.4.5
VERSION_INFO = (7, 4, 5, 0, 409)    # major, minor, patch, special, build
WILDCARD = 0xFFFFFFFFFFFFFFFF
CONFIG_DEFAULTS: dict[t.EzspConfigId, int] = {
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 75,
    t.EzspConfigId.CONFIG_NEIGHBOR_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_APS_UNICAST_MESSAGE_COUNT: 10,
    t.EzspConfigId.CONFIG_BINDING_TABLE_SIZE: 2,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_ROUTE_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_DISCOVERY_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_MAX_HOPS: 30,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 6,
    t.EzspConfigId.CONFIG_INDIRECT_TRANSMISSION_TIMEOUT: 3000,
    t.EzspConfigId.CONFIG_END_DEVICE_POLL_TIMEOUT: 8,
    t.EzspConfigId.CONFIG_TX_POWER_MODE: 0,
    t.EzspConfigId.CONFIG_DISABLE_RELAY: 0,
    t.EzspConfigId.CONFIG_TRUST_CENTER_ADDRESS_CACHE_SIZE: 0,
    t.EzspConfigId.CONFIG_SOURCE_ROUTE_TABLE_SIZE: 7,
    t.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE: 1,
    t.EzspConfigId.CONFIG_FRAGMENT_DELAY_MS: 0,
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 4,
    t.EzspConfigId.CONFIG_APS_ACK_TIMEOUT: 1600,
    t.EzspConfigId.CONFIG_PAN_ID_CONFLICT_REPORT_THRESHOLD: 1,
    t.EzspConfigId.CONFIG_REQUEST_KEY_TIMEOUT: 0,
    t.EzspConfigId.CONFIG_APPLICATION_ZDO_FLAGS: 0,
    t.EzspConfigId.CONFIG_BROADCAST_TABLE_SIZE: 15,
    t.EzspConfigId.CONFIG_SUPPORTED_NETWORKS: 1,
    t.EzspConfigId.CONFIG_SEND_MULTICASTS_TO_SLEEPY_ADDRESS: 0,
    t.EzspConfigId.CONFIG_ZLL_GROUP_ADDRESSES: 0,
    t.EzspConfigId.CONFIG_ZLL_RSSI_THRESHOLD: 0,
    t.EzspConfigId.CONFIG_MTORR_FLOW_CONTROL: 1,
    t.EzspConfigId.CONFIG_RETRY_QUEUE_SIZE: 8,
    t.EzspConfigId.CONFIG_NEW_BROADCAST_ENTRY_THRESHOLD: 10,
    t.EzspConfigId.CONFIG_TRANSIENT_KEY_TIMEOUT_S: 300,
    t.EzspConfigId.CONFIG_END_DEVICE_POLL_TIMEOUT_SHIFT: 6,
    t.EzspConfigId.CONFIG_ACTIVE_SCAN_DURATION: 3,
    t.EzspConfigId.CONFIG_BROADCAST_MIN_ACKS_NEEDED: 1,
    t.EzspConfigId.CONFIG_TC_REJOINS_USING_WELL_KNOWN_KEY_TIMEOUT_S: 300,
}
# values the host may set (kept in RAM) beside those the stack reports itself
SETTABLE_VALUES = frozenset({
    t.EzspValueId.VALUE_STACK_TOKEN_WRITING, t.EzspValueId.VALUE_END_DEVICE_KEEP_ALIVE_SUPPORT_MODE,
    t.EzspValueId.VALUE_MAXIMUM_INCOMING_TRANSFER_SIZE,
    t.EzspValueId.VALUE_MAXIMUM_OUTGOING_TRANSFER_SIZE, t.EzspValueId.VALUE_CCA_THRESHOLD,
    t.EzspValueId.VALUE_TRANSIENT_DEVICE_TIMEOUT,
    t.EzspValueId.VALUE_FORCE_TX_AFTER_FAILED_CCA_ATTEMPTS,
    t.EzspValueId.VALUE_NWK_FRAME_COUNTER, t.EzspValueId.VALUE_APS_FRAME_COUNTER})


def _key(value: Any) -> t.KeyData:
    return t.KeyData(bytes(value))


def _eui(value: int) -> t.EUI64:
    return t.EUI64(value.to_bytes(8, "little"))


def _int(eui: t.EUI64) -> int:
    return int.from_bytes(bytes(eui.serialize()), "little")


class EmulatedNcp(Messaging):
    """One emulated EZSP stick: its EUI-64, manufacturing tokens, NVM and radio."""

    def __init__(self, eui64: int, medium: Medium, scheduler: Scheduler, *,
                 nvm: MutableMapping[str, Any] | None = None,
                 manufacturer: str = "smetslab", board: str = "emulated EZSP NCP",
                 seed: int | None = None) -> None:
        self.eui64 = eui64
        self.medium = medium
        self.scheduler = scheduler
        self.nvm: MutableMapping[str, Any] = nvm if nvm is not None else {}
        self.mfg_tokens = {t.EzspMfgTokenId.MFG_STRING: manufacturer.encode()[:16],
                           t.EzspMfgTokenId.MFG_BOARD_NAME: board.encode()[:16],
                           t.EzspMfgTokenId.MFG_MANUF_ID: (0x1002).to_bytes(2, "little"),
                           t.EzspMfgTokenId.MFG_CUSTOM_EUI_64: b"\xff" * 8}
        self.random = random.Random(seed if seed is not None else eui64)
        self.stats: Counter[str] = Counter()
        self.emit: Callable[[str, dict[str, Any]], None] = self._no_host
        self.node: NcpNode | None = None
        self.trust_centre: TrustCentre | None = None
        self._reset_ram()

    def _no_host(self, name: str, values: dict[str, Any]) -> None:
        self.stats["callback_no_host"] += 1

    # -- reset -----------------------------------------------------------------------------

    def reset(self) -> None:
        """A reboot: the radio stops and RAM state is lost; NVM stays."""
        if self.node is not None:
            self.node.power_off()
        self.node = None
        self.trust_centre = None
        self._reset_ram()
        self.stats["reset"] += 1

    def _reset_ram(self) -> None:
        self.config: dict[t.EzspConfigId, int] = dict(CONFIG_DEFAULTS)
        self.values: dict[t.EzspValueId, bytes] = {}
        self.policies: dict[t.EzspPolicyId, int] = {
            t.EzspPolicyId.TRUST_CENTER_POLICY: t.EzspDecisionBitmask.DEFAULT_CONFIGURATION,
            t.EzspPolicyId.MESSAGE_CONTENTS_IN_CALLBACK_POLICY:
                t.EzspDecisionId.MESSAGE_TAG_ONLY_IN_CALLBACK}
        self.endpoints: dict[int, Endpoint] = {}
        self.transient_keys: dict[int, tuple[bytes, Any]] = {}
        self.multicast: dict[int, tuple[int, int]] = {}     # index -> (group, endpoint)
        self.address_table: dict[int, tuple[int, int, bool]] = {}   # index -> eui, id, ext
        self.extended_timeout: set[int] = set()
        self.manufacturer_code = 0x1002
        self.radio_power = 8
        self._permit_timer: Any = None
        self._counters: Counter[int] = Counter()

    @property
    def up(self) -> bool:
        return self.node is not None and self.node.joined

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Run one EZSP command; None when this NCP does not implement it."""
        method = getattr(self, f"ezsp_{name}", None)
        self.stats[f"cmd_{name}"] += 1
        if method is None:
            return None
        return method(**params)

    def _later(self, callback: Callable[[], None], name: str) -> None:
        """After the response: callbacks a command causes come after its answer."""
        self.scheduler.schedule(callback, f"ncp {name}", after=timedelta(0))

    # -- configuration, values, policies ------------------------------------------------------

    def ezsp_version(self, desiredProtocolVersion: int) -> dict[str, Any]:
        return {"protocolVersion": PROTOCOL_VERSION, "stackType": STACK_TYPE,
                "stackVersion": STACK_VERSION}

    def ezsp_getConfigurationValue(self, configId: t.EzspConfigId) -> dict[str, Any]:
        if configId not in self.config:
            return {"status": t.EzspStatus.ERROR_INVALID_ID, "value": 0}
        return {"status": t.EzspStatus.SUCCESS, "value": self.config[configId]}

    def ezsp_setConfigurationValue(self, configId: t.EzspConfigId,
                                   value: int) -> dict[str, Any]:
        if self.up:   # the stack has allocated its tables
            return {"status": t.EzspStatus.ERROR_INVALID_CALL}
        if configId not in self.config:
            return {"status": t.EzspStatus.ERROR_INVALID_ID}
        self.config[configId] = value
        return {"status": t.EzspStatus.SUCCESS}

    def _value(self, value_id: t.EzspValueId) -> bytes | None:
        if value_id == t.EzspValueId.VALUE_VERSION_INFO:
            major, minor, patch, special, build = VERSION_INFO
            return build.to_bytes(2, "little") + bytes([major, minor, patch, special])
        if value_id == t.EzspValueId.VALUE_FREE_BUFFERS:
            return bytes([self.config[t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT] & 0xFF])
        if value_id == t.EzspValueId.VALUE_STACK_TOKEN_WRITING:
            return self.values.get(value_id, b"\x01")
        return self.values.get(value_id)

    def ezsp_getValue(self, valueId: t.EzspValueId) -> dict[str, Any]:
        value = self._value(valueId)
        if value is None:
            return {"status": t.EzspStatus.ERROR_INVALID_ID, "value": b""}
        return {"status": t.EzspStatus.SUCCESS, "value": value}

    def ezsp_setValue(self, valueId: t.EzspValueId, value: bytes) -> dict[str, Any]:
        if valueId not in SETTABLE_VALUES:
            return {"status": t.EzspStatus.ERROR_INVALID_ID}
        if valueId in (t.EzspValueId.VALUE_NWK_FRAME_COUNTER,
                       t.EzspValueId.VALUE_APS_FRAME_COUNTER):
            if self.up or len(value) != 4:
                return {"status": t.EzspStatus.ERROR_INVALID_CALL}
            which = "tx_nwk" if valueId == t.EzspValueId.VALUE_NWK_FRAME_COUNTER else "tx_aps"
            self._node_nvm()[which] = int.from_bytes(value, "little")
        self.values[valueId] = bytes(value)
        return {"status": t.EzspStatus.SUCCESS}

    def ezsp_setPolicy(self, policyId: t.EzspPolicyId, decisionId: int) -> dict[str, Any]:
        self.policies[policyId] = int(decisionId)
        return {"status": t.EzspStatus.SUCCESS}

    def ezsp_getPolicy(self, policyId: t.EzspPolicyId) -> dict[str, Any]:
        if policyId not in self.policies:
            return {"status": t.EzspStatus.ERROR_INVALID_ID, "decisionId": 0}
        return {"status": t.EzspStatus.SUCCESS, "decisionId": self.policies[policyId]}

    def ezsp_addEndpoint(self, endpoint: int, profileId: int, deviceId: int,
                         deviceVersion: int, inputClusterCount: int,
                         outputClusterCount: int, inputClusterList: list[int],
                         outputClusterList: list[int]) -> dict[str, Any]:
        if self.up or endpoint in self.endpoints or not 1 <= endpoint <= 254:
            return {"status": t.EzspStatus.ERROR_INVALID_CALL}
        self.endpoints[endpoint] = Endpoint(
            endpoint, profileId, deviceId,
            server_clusters={c: _host_handles for c in inputClusterList},
            client_clusters={c: _host_handles for c in outputClusterList})
        return {"status": t.EzspStatus.SUCCESS}

    # -- identity, tokens ----------------------------------------------------------------------

    def ezsp_getEui64(self) -> dict[str, Any]:
        return {"eui64": _eui(self.eui64)}

    def ezsp_getNodeId(self) -> dict[str, Any]:
        short = self.node.short_address if self.up and self.node is not None else None
        return {"nodeId": 0xFFFE if short is None else short}

    def ezsp_getMfgToken(self, tokenId: t.EzspMfgTokenId) -> dict[str, Any]:
        return {"tokenData": self.mfg_tokens.get(tokenId, b"")}

    def ezsp_setMfgToken(self, tokenId: t.EzspMfgTokenId, tokenData: bytes) -> dict[str, Any]:
        current = self.mfg_tokens.get(tokenId)
        if current is None or current.strip(b"\xff"):   # write-once tokens
            return {"status": t.EmberStatus.ERR_FATAL}
        self.mfg_tokens[tokenId] = bytes(tokenData)
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_getTokenData(self, token: int, index: int) -> dict[str, Any]:
        # No NV3 token access: the stack's state is reached through its commands.
        return {"status": t.EmberStatus.NOT_FOUND, "value": b""}

    def ezsp_setTokenData(self, token: int, index: int, token_data: bytes) -> dict[str, Any]:
        return {"status": t.EmberStatus.NOT_FOUND}

    def ezsp_getRandomNumber(self) -> dict[str, Any]:
        return {"status": t.EmberStatus.SUCCESS, "value": self.random.randrange(0x10000)}

    def ezsp_nop(self) -> dict[str, Any]:
        return {}

    def ezsp_echo(self, data: bytes) -> dict[str, Any]:
        return {"echo": data}

    def ezsp_customFrame(self, payload: bytes) -> dict[str, Any]:
        # No XNCP extensions: the status a stock NCP gives.
        return {"status": t.EmberStatus.INVALID_CALL, "reply": b""}

    def ezsp_setManufacturerCode(self, code: int) -> dict[str, Any]:
        self.manufacturer_code = code
        if self.node is not None:
            self.node.manufacturer_code = code
        return {}

    def ezsp_setRadioPower(self, power: int) -> dict[str, Any]:
        if not -26 <= power <= 20:
            return {"status": t.EmberStatus.PHY_INVALID_POWER}
        self.radio_power = power
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_readCounters(self) -> dict[str, Any]:
        return {"values": [min(self._counters[c], 0xFFFF) for c in range(len(t.EmberCounterType))]}

    def ezsp_readAndClearCounters(self) -> dict[str, Any]:
        values = self.ezsp_readCounters()
        self._counters.clear()
        return values

    # -- security --------------------------------------------------------------------------------

    def ezsp_setInitialSecurityState(self, state: t.EmberInitialSecurityState) -> dict[str, Any]:
        if self.up:
            return {"status": t.EmberStatus.INVALID_CALL}
        if not state.bitmask & t.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY and \
                not state.bitmask & t.EmberInitialSecurityBitmask.HAVE_PRECONFIGURED_KEY:
            return {"status": t.EmberStatus.SECURITY_CONFIGURATION_INVALID}
        network_key = bytes(state.networkKey) if \
            state.bitmask & t.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY else \
            self.random.randbytes(16)
        self.nvm["security"] = {
            "bitmask": int(state.bitmask), "tc_link_key": bytes(state.preconfiguredKey).hex(),
            "network_key": network_key.hex(),
            "network_key_sequence": int(state.networkKeySequenceNumber)}
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_getCurrentSecurityState(self) -> dict[str, Any]:
        security = self.nvm.get("security")
        if not self.up or security is None:
            return {"status": t.EmberStatus.NOT_JOINED, "state": t.EmberCurrentSecurityState(
                bitmask=0, trustCenterLongAddress=_eui(0))}
        bitmask = t.EmberCurrentSecurityBitmask.HAVE_TRUST_CENTER_LINK_KEY
        if security["bitmask"] & t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY \
                == t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY:
            bitmask |= t.EmberCurrentSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY
        if security["bitmask"] & t.EmberInitialSecurityBitmask.TRUST_CENTER_GLOBAL_LINK_KEY:
            bitmask |= t.EmberCurrentSecurityBitmask.GLOBAL_LINK_KEY
        return {"status": t.EmberStatus.SUCCESS, "state": t.EmberCurrentSecurityState(
            bitmask=bitmask, trustCenterLongAddress=_eui(self.eui64))}

    def ezsp_exportKey(self, context: t.SecurityManagerContextV13) -> dict[str, Any]:
        security = self.nvm.get("security")
        kind = context.core_key_type
        if security is None:
            return {"key": _key(bytes(16)), "status": t.sl_Status.NOT_FOUND}
        if kind == t.SecurityManagerKeyType.NETWORK:
            key = self.node.network_key if self.up and self.node is not None else \
                bytes.fromhex(security["network_key"])
            return {"key": _key(key), "status": t.sl_Status.OK}
        if kind == t.SecurityManagerKeyType.TC_LINK:
            return {"key": _key(bytes.fromhex(security["tc_link_key"])), "status": t.sl_Status.OK}
        if kind == t.SecurityManagerKeyType.APP_LINK:
            key = self._link_key(_int(context.eui64))
            if key is None:
                return {"key": _key(bytes(16)), "status": t.sl_Status.NOT_FOUND}
            return {"key": _key(key), "status": t.sl_Status.OK}
        return {"key": _key(bytes(16)), "status": t.sl_Status.INVALID_PARAMETER}

    def ezsp_getNetworkKeyInfo(self) -> dict[str, Any]:
        node = self.node
        if not self.up or node is None:
            return {"status": t.sl_Status.NOT_JOINED,
                    "network_key_info": t.SecurityManagerNetworkKeyInfo(
                        network_key_set=False, alternate_network_key_set=False,
                        network_key_sequence_number=0, alt_network_key_sequence_number=0,
                        network_key_frame_counter=0)}
        alternate = [s for s in node.network_keys if s != node.active_key_sequence]
        return {"status": t.sl_Status.OK, "network_key_info": t.SecurityManagerNetworkKeyInfo(
            network_key_set=True, alternate_network_key_set=bool(alternate),
            network_key_sequence_number=node.active_key_sequence,
            alt_network_key_sequence_number=alternate[0] if alternate else 0,
            network_key_frame_counter=node.nwk_frame_counter)}

    def _key_table(self) -> list[list[Any]]:
        return self.nvm.setdefault("key_table", [])

    def _link_key(self, eui: int) -> bytes | None:
        if self.node is not None and eui in self.node.link_keys:
            return self.node.link_keys[eui]
        return next((bytes.fromhex(k) for e, k in self._key_table() if e == eui), None)

    def ezsp_importLinkKey(self, index: int, address: t.EUI64, key: t.KeyData) -> dict[str, Any]:
        table = self._key_table()
        size = self.config[t.EzspConfigId.CONFIG_KEY_TABLE_SIZE]
        eui = _int(address)
        existing = next((i for i, (e, _) in enumerate(table) if e == eui), None)
        if existing is not None:
            table[existing] = [eui, bytes(key).hex()]
        elif len(table) >= size:
            return {"status": t.sl_Status.FULL}
        else:
            table.append([eui, bytes(key).hex()])
        self.nvm["key_table"] = table
        if self.node is not None:
            self.node.set_link_key(eui, bytes(key))
        return {"status": t.sl_Status.OK}

    def ezsp_exportLinkKeyByIndex(self, index: int) -> dict[str, Any]:
        table = self._key_table()
        if index >= len(table):
            return {"eui64": _eui(0), "plaintext_key": _key(bytes(16)),
                    "key_data": _key_metadata(0), "status": t.sl_Status.NOT_FOUND}
        eui, key = table[index]
        counter = self.node.aps_frame_counter if self.node is not None else 0
        return {"eui64": _eui(eui), "plaintext_key": _key(bytes.fromhex(key)),
                "key_data": _key_metadata(counter), "status": t.sl_Status.OK}

    def ezsp_findKeyTableEntry(self, address: t.EUI64, linkKey: bool) -> dict[str, Any]:
        eui = _int(address)
        index = next((i for i, (e, _) in enumerate(self._key_table()) if e == eui), NO_INDEX)
        return {"index": index}

    def ezsp_eraseKeyTableEntry(self, index: int) -> dict[str, Any]:
        table = self._key_table()
        if index >= len(table):
            return {"status": t.EmberStatus.TABLE_ENTRY_ERASED}
        del table[index]
        self.nvm["key_table"] = table
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_clearKeyTable(self) -> dict[str, Any]:
        self.nvm["key_table"] = []
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_importTransientKey(self, eui64: t.EUI64, plaintext_key: t.KeyData,
                                flags: int) -> dict[str, Any]:
        eui = _int(eui64)
        timeout = timedelta(seconds=self.config[t.EzspConfigId.CONFIG_TRANSIENT_KEY_TIMEOUT_S])
        self.transient_keys[eui] = (bytes(plaintext_key), self.scheduler.now() + timeout)
        return {"status": t.sl_Status.OK}

    def ezsp_clearTransientLinkKeys(self) -> dict[str, Any]:
        self.transient_keys.clear()
        return {}

    def ezsp_tokenFactoryReset(self, excludeOutgoingFC: bool,
                               excludeBootCounter: bool) -> dict[str, Any]:
        counters = {k: v for k, v in self._node_nvm().items() if k.startswith("tx_")}
        self.nvm.clear()
        if excludeOutgoingFC:
            self.nvm["node"] = counters
        return {}

    # -- network -----------------------------------------------------------------------------

    def _node_nvm(self) -> MutableMapping[str, Any]:
        if "node" not in self.nvm:
            self.nvm["node"] = {}
        return self.nvm["node"]

    def _start_node(self, channel: int) -> NcpNode:
        node = NcpNode(self.eui64, self.medium, self.scheduler, channel=channel,
                       nvm=self._node_nvm(), name="ncp", on_incoming=self._incoming)
        node.manufacturer_code = self.manufacturer_code
        for endpoint in self.endpoints.values():
            if endpoint.endpoint <= 240:    # 241-254 (Green Power...) are not ZDO-listed
                node.add_endpoint(endpoint)
        return node

    def _bring_up(self, node: NcpNode) -> None:
        self.node = node
        self.trust_centre = TrustCentre(node, DeviceLog(self.nvm))
        node.join_policy = self._authorise
        node.on_associated = self._associated
        node.on_device_left = self._left
        self._later(lambda: self._stack_status(t.EmberStatus.NETWORK_UP), "network up")

    def _stack_status(self, status: t.EmberStatus) -> None:
        self.emit("stackStatusHandler", {"status": status})

    def ezsp_networkState(self) -> dict[str, Any]:
        return {"status": t.EmberNetworkStatus.JOINED_NETWORK if self.up
                else t.EmberNetworkStatus.NO_NETWORK}

    def ezsp_networkInit(self, networkInitBitmask: int) -> dict[str, Any]:
        if self.up:
            return {"status": t.EmberStatus.INVALID_CALL}
        network = self._node_nvm().get("network")
        if not network:
            return {"status": t.EmberStatus.NOT_JOINED}
        self._bring_up(self._start_node(network["channel"]))
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_formNetwork(self, parameters: t.EmberNetworkParameters) -> dict[str, Any]:
        if self.up:
            return {"status": t.EmberStatus.INVALID_CALL}
        security = self.nvm.get("security")
        if security is None:
            return {"status": t.EmberStatus.SECURITY_STATE_NOT_SET}
        channel = int(parameters.radioChannel)
        if not 11 <= channel <= 26:
            return {"status": t.EmberStatus.PHY_INVALID_CHANNEL}
        if not -26 <= int(t.int8s(parameters.radioTxPower)) <= 20:
            return {"status": t.EmberStatus.PHY_INVALID_POWER}
        self.nvm["node"] = {k: v for k, v in self._node_nvm().items() if k.startswith("tx_")}
        self.nvm["device_log"] = {}
        self.nvm["parameters"] = {
            "tx_power": int(parameters.radioTxPower), "channels": int(parameters.channels),
            "nwk_manager": int(parameters.nwkManagerId),
            "nwk_update_id": int(parameters.nwkUpdateId)}
        node = self._start_node(channel)
        node.form_network(int(parameters.panId), _int(parameters.extendedPanId),
                          bytes.fromhex(security["network_key"]),
                          key_sequence=security["network_key_sequence"])
        self._bring_up(node)
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_leaveNetwork(self) -> dict[str, Any]:
        if not self.up or self.node is None:
            return {"status": t.EmberStatus.INVALID_CALL}
        self.node.power_off()
        self.node = self.trust_centre = None
        self.nvm["node"] = {k: v for k, v in self._node_nvm().items() if k.startswith("tx_")}
        self.nvm["device_log"] = {}
        self._later(lambda: self._stack_status(t.EmberStatus.NETWORK_DOWN), "network down")
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_getNetworkParameters(self) -> dict[str, Any]:
        node = self.node
        if not self.up or node is None:
            return {"status": t.EmberStatus.NOT_JOINED, "nodeType": t.EmberNodeType.UNKNOWN_DEVICE,
                    "parameters": _parameters(0, 0, 0, 0, {})}
        return {"status": t.EmberStatus.SUCCESS, "nodeType": t.EmberNodeType.COORDINATOR,
                "parameters": _parameters(node.extended_pan_id, node.pan_id or 0,
                                          node.channel, self.radio_power,
                                          self.nvm.get("parameters", {}))}

    def ezsp_permitJoining(self, duration: int) -> dict[str, Any]:
        node = self.node
        if not self.up or node is None:
            return {"status": t.EmberStatus.NETWORK_DOWN}
        if self._permit_timer is not None:
            self.scheduler.cancel(self._permit_timer)
            self._permit_timer = None
        opened = duration > 0
        node.permit_joining = opened
        self._later(lambda: self._stack_status(
            t.EmberStatus.NETWORK_OPENED if opened else t.EmberStatus.NETWORK_CLOSED),
            "permit joining")
        if 0 < duration < 0xFF:
            def close() -> None:
                self._permit_timer = None
                if self.node is node:
                    node.permit_joining = False
                    self._stack_status(t.EmberStatus.NETWORK_CLOSED)
            self._permit_timer = self.scheduler.schedule(
                close, "ncp permit joining ends", after=timedelta(seconds=duration))
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_startScan(self, scanType: t.EzspNetworkScanType, channelMask: int,
                       duration: int) -> dict[str, Any]:
        if scanType != t.EzspNetworkScanType.ENERGY_SCAN:
            return {"status": t.EmberStatus.INVALID_CALL}
        channels = [c for c in range(11, 27) if channelMask & (1 << c)]
        if not channels:
            return {"status": t.EmberStatus.MAC_INVALID_CHANNEL_MASK}

        def report() -> None:
            for channel in channels:   # a quiet band, worse where the medium interferes
                loss = self.medium.model.interference.get(channel, 0.0)
                self.emit("energyScanResultHandler",
                          {"channel": channel, "maxRssiValue": round(-95 + 60 * loss)})
            self.emit("scanCompleteHandler", {"channel": channels[-1],
                                              "status": t.EmberStatus.SUCCESS})
        self._later(report, "energy scan")
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_setConcentrator(self, **params: Any) -> dict[str, Any]:
        # One-hop star: there are no routes for a concentrator to collect.
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_setSourceRouteDiscoveryMode(self, mode: int) -> dict[str, Any]:
        return {"remainingTime": 0}

    def ezsp_setSourceRoute(self, destination: int, relayList: list[int]) -> dict[str, Any]:
        return {"status": t.EmberStatus.SUCCESS if not relayList else t.EmberStatus.INVALID_CALL}

    # -- tables ---------------------------------------------------------------------------------

    def ezsp_getChildData(self, index: int) -> dict[str, Any]:
        children = self._children()
        if index >= len(children):
            return {"status": t.EmberStatus.NOT_JOINED, "child_data": _child(0, 0xFFFF, False)}
        short, eui = children[index]
        sleepy = self.node is not None and short in self.node.sleepy_children
        return {"status": t.EmberStatus.SUCCESS, "child_data": _child(eui, short, sleepy)}

    def _children(self) -> list[tuple[int, int]]:
        if not self.up or self.node is None:
            return []
        return sorted((s, e) for s, e in self.node.addresses.items()
                      if s != self.node.short_address and e in self.node.link_keys)

    def ezsp_getMulticastTableEntry(self, index: int) -> dict[str, Any]:
        if index >= self.config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE,
                    "value": t.EmberMulticastTableEntry(multicastId=0, endpoint=0,
                                                        networkIndex=0)}
        group, endpoint = self.multicast.get(index, (0, 0))
        return {"status": t.EmberStatus.SUCCESS, "value": t.EmberMulticastTableEntry(
            multicastId=group, endpoint=endpoint, networkIndex=0)}

    def ezsp_setMulticastTableEntry(self, index: int,
                                    value: t.EmberMulticastTableEntry) -> dict[str, Any]:
        if index >= self.config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE}
        if value.endpoint:
            self.multicast[index] = (int(value.multicastId), int(value.endpoint))
        else:
            self.multicast.pop(index, None)
        return {"status": t.EmberStatus.SUCCESS}

    def ezsp_lookupNodeIdByEui64(self, eui64: t.EUI64) -> dict[str, Any]:
        eui = _int(eui64)
        if eui == self.eui64 and self.up:
            return {"nodeId": 0x0000}
        short = self.node.short_of(eui) if self.up and self.node is not None else None
        return {"nodeId": 0xFFFF if short is None else short}

    def ezsp_lookupEui64ByNodeId(self, nodeId: int) -> dict[str, Any]:
        eui = self.node.eui_of(nodeId) if self.up and self.node is not None else None
        if nodeId == 0 and self.up:
            eui = self.eui64
        if eui is None:
            return {"status": t.EmberStatus.ERR_FATAL, "eui64": _eui(0)}
        return {"status": t.EmberStatus.SUCCESS, "eui64": _eui(eui)}

    def ezsp_getExtendedTimeout(self, remoteEui64: t.EUI64) -> dict[str, Any]:
        return {"extendedTimeout": _int(remoteEui64) in self.extended_timeout}

    def ezsp_setExtendedTimeout(self, remoteEui64: t.EUI64,
                                extendedTimeout: bool) -> dict[str, Any]:
        (self.extended_timeout.add if extendedTimeout else self.extended_timeout.discard)(
            _int(remoteEui64))
        return {}

    def ezsp_replaceAddressTableEntry(self, addressTableIndex: int, newEui64: t.EUI64,
                                      newId: int, newExtendedTimeout: bool) -> dict[str, Any]:
        if addressTableIndex >= self.config[t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE]:
            return {"status": t.EmberStatus.ADDRESS_TABLE_INDEX_OUT_OF_RANGE,
                    "oldEui64": _eui(0), "oldId": 0xFFFF, "oldExtendedTimeout": False}
        old = self.address_table.get(addressTableIndex, (0, 0xFFFF, False))
        self.address_table[addressTableIndex] = (_int(newEui64), int(newId),
                                                 bool(newExtendedTimeout))
        self.ezsp_setExtendedTimeout(newEui64, newExtendedTimeout)
        if self.node is not None and newId < BROADCAST_ROUTERS:
            self.node.addresses.setdefault(int(newId), _int(newEui64))
        return {"status": t.EmberStatus.SUCCESS, "oldEui64": _eui(old[0]), "oldId": old[1],
                "oldExtendedTimeout": old[2]}

    def ezsp_getAddressTableRemoteNodeId(self, addressTableIndex: int) -> dict[str, Any]:
        return {"nodeId": self.address_table.get(addressTableIndex, (0, 0xFFFF, False))[1]}

    def ezsp_getAddressTableRemoteEui64(self, addressTableIndex: int) -> dict[str, Any]:
        return {"eui64": _eui(self.address_table.get(addressTableIndex, (0, 0, False))[0])}

    # -- joining -----------------------------------------------------------------------------

    def _transient_key(self, eui: int) -> bytes | None:
        entry = self.transient_keys.get(eui)
        if entry is None:
            return None
        key, expires = entry
        if self.scheduler.now() > expires:
            del self.transient_keys[eui]
            return None
        return key

    def _authorise(self, eui: int) -> bool:
        """The trust-centre policy: joins allowed, with a key for this device."""
        policy = self.policies.get(t.EzspPolicyId.TRUST_CENTER_POLICY, 0)
        assert self.trust_centre is not None
        key = self._transient_key(eui)
        if key is None and not policy & t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY:
            key = self._transient_key(WILDCARD)
        if not policy & t.EzspDecisionBitmask.ALLOW_JOINS or key is None:
            self.stats["join_denied"] += 1
            LOG.info("NCP: join of %016X denied (policy 0x%02X, key %s)", eui, policy,
                     "known" if key else "unknown")
            self._later(lambda: self._tc_join(eui, 0xFFFF, t.EmberDeviceUpdate.
                                              STANDARD_SECURITY_UNSECURED_JOIN,
                                              t.EmberJoinDecision.DENY_JOIN), "join denied")
            return False
        self.trust_centre.device_log.add_link_key(eui, key)
        return True

    def _associated(self, eui: int, short: int) -> None:
        assert self.trust_centre is not None
        self.trust_centre._associated(eui, short)
        sleepy = self.node is not None and short in self.node.sleepy_children
        index = next((i for i, (s, _) in enumerate(self._children()) if s == short), 0)
        self.emit("childJoinHandler", {
            "index": index, "joining": True, "childId": short, "childEui64": _eui(eui),
            "childType": t.EmberNodeType.SLEEPY_END_DEVICE if sleepy
            else t.EmberNodeType.END_DEVICE})
        self._tc_join(eui, short, t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
                      t.EmberJoinDecision.USE_PRECONFIGURED_KEY)

    def _tc_join(self, eui: int, short: int, update: t.EmberDeviceUpdate,
                 decision: t.EmberJoinDecision) -> None:
        self.emit("trustCenterJoinHandler", {
            "newNodeId": short, "newNodeEui64": _eui(eui), "status": update,
            "policyDecision": decision, "parentOfNewNodeId": 0x0000})

    def _left(self, eui: int) -> None:
        if self.trust_centre is not None:
            self.trust_centre._left(eui)
        self._tc_join(eui, 0xFFFF, t.EmberDeviceUpdate.DEVICE_LEFT,
                      t.EmberJoinDecision.NO_ACTION)

    def ezsp_removeDevice(self, destShort: int, destLong: t.EUI64,
                          targetLong: t.EUI64) -> dict[str, Any]:
        if not self.up or self.trust_centre is None:
            return {"status": t.EmberStatus.NETWORK_DOWN}
        found = self.trust_centre.remove_device(_int(targetLong))
        return {"status": t.EmberStatus.SUCCESS if found else t.EmberStatus.INVALID_CALL}


def _host_handles(indication: Any) -> None:
    """Endpoint clusters are served by the host: the NCP only lists them (Match
    Descriptor); the traffic goes up through `incomingMessageHandler`."""
    return None


def _key_metadata(outgoing: int) -> t.SecurityManagerAPSKeyMetadata:
    return t.SecurityManagerAPSKeyMetadata(bitmask=0, outgoing_frame_counter=outgoing,
                                           incoming_frame_counter=0, ttl_in_seconds=0)


def _child(eui: int, short: int, sleepy: bool) -> t.EmberChildDataV10:
    return t.EmberChildDataV10(
        eui64=_eui(eui), type=t.EmberNodeType.SLEEPY_END_DEVICE if sleepy
        else t.EmberNodeType.END_DEVICE, id=short, phy=0, power=0, timeout=0,
        timeout_remaining=0)


def _parameters(extended_pan_id: int, pan_id: int, channel: int, tx_power: int,
                saved: dict[str, int]) -> t.EmberNetworkParameters:
    return t.EmberNetworkParameters(
        extendedPanId=t.ExtendedPanId(extended_pan_id.to_bytes(8, "little")), panId=pan_id,
        radioTxPower=tx_power & 0xFF, radioChannel=channel,
        joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
        nwkManagerId=saved.get("nwk_manager", 0), nwkUpdateId=saved.get("nwk_update_id", 0),
        channels=saved.get("channels", 1 << channel if channel else 0))

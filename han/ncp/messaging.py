"""What the emulated stack does with application messages: `sendUnicast`,
`sendBroadcast`, `sendMulticast`, `sendReply` and the callbacks that report on them
(`messageSentHandler`) or bring traffic up (`incomingMessageHandler`).

A unicast to the stack's own node id is looped back (the stack answers the ZDO requests it
serves, anything else comes back as received); messages longer than the host takes in one
frame go up as APS fragments, as EmberZNet hands them up and bellows reassembles them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, MutableMapping
from typing import Any

import bellows.types as t

from han.frames.aps import DeliveryMode
from han.ncp.node import Incoming, NcpNode
from han.radio.aps_layer import BROADCAST_ROUTERS

LOG = logging.getLogger(__name__)

NO_INDEX = 0xFF
MAX_PAYLOAD = 100                   # message contents a sendUnicast frame carries (the
                                    # node fragments over the air beyond one APS frame)
HOST_FRAGMENT = 82                  # longer incoming messages go up as APS fragments


class Messaging:
    """The messaging commands of `han.ncp.stack.EmulatedNcp` (a mixin: the stack provides
    the node, the policies, `emit` and `_later`)."""

    eui64: int
    node: NcpNode | None
    stats: Counter[str]
    multicast: dict[int, tuple[int, int]]
    policies: MutableMapping[Any, int]
    _counters: Counter[int]
    emit: Callable[[str, dict[str, Any]], None]
    up: bool
    _later: Callable[[Callable[[], None], str], None]

    def _incoming(self, message: Incoming) -> None:
        if message.delivery_mode == DeliveryMode.GROUP:
            if not any(g == message.group for g, _ in self.multicast.values()):
                self.stats["multicast_not_member"] += 1
                return
            kind = t.EmberIncomingMessageType.INCOMING_MULTICAST
        elif message.delivery_mode == DeliveryMode.BROADCAST:
            kind = t.EmberIncomingMessageType.INCOMING_BROADCAST
        else:
            kind = t.EmberIncomingMessageType.INCOMING_UNICAST
        self._counters[t.EmberCounterType.COUNTER_APS_DATA_RX_UNICAST if kind ==
                       t.EmberIncomingMessageType.INCOMING_UNICAST else
                       t.EmberCounterType.COUNTER_APS_DATA_RX_BROADCAST] += 1
        options = t.EmberApsOption.APS_OPTION_NONE
        if message.aps_secured:
            options |= t.EmberApsOption.APS_OPTION_ENCRYPTION
        payload = message.payload
        pieces = [payload[i:i + HOST_FRAGMENT] for i in range(0, len(payload), HOST_FRAGMENT)]
        if len(pieces) > 1:     # as EmberZNet hands a fragmented message up: index in groupId
            options |= t.EmberApsOption.APS_OPTION_FRAGMENT
        for index, piece in enumerate(pieces or [b""]):
            group = (len(pieces) << 8 | index) if len(pieces) > 1 else message.group or 0
            frame = t.EmberApsFrame(
                profileId=message.profile_id, clusterId=message.cluster_id,
                sourceEndpoint=message.source_endpoint,
                destinationEndpoint=message.destination_endpoint, options=options,
                groupId=group, sequence=message.aps_counter)
            self.emit("incomingMessageHandler", {
                "type": kind, "apsFrame": frame, "lastHopLqi": message.lqi,
                "lastHopRssi": round(message.lqi * 60 / 255 - 100), "sender": message.source,
                "bindingIndex": NO_INDEX, "addressIndex": NO_INDEX, "messageContents": piece})

    def _sent(self, kind: t.EmberOutgoingMessageType, destination: int,
              frame: t.EmberApsFrame, tag: int, contents: bytes) -> Callable[[bool], None]:
        def confirm(ok: bool) -> None:
            self._counters[t.EmberCounterType.COUNTER_APS_DATA_TX_UNICAST_SUCCESS if ok else
                           t.EmberCounterType.COUNTER_APS_DATA_TX_UNICAST_FAILED] += 1
            with_contents = self.policies.get(
                t.EzspPolicyId.MESSAGE_CONTENTS_IN_CALLBACK_POLICY) == \
                t.EzspDecisionId.MESSAGE_TAG_AND_CONTENTS_IN_CALLBACK
            self.emit("messageSentHandler", {
                "type": kind, "indexOrDestination": destination, "apsFrame": frame,
                "messageTag": tag,
                "status": t.EmberStatus.SUCCESS if ok else t.EmberStatus.DELIVERY_FAILED,
                "messageContents": contents if with_contents else b""})
        return confirm

    def _send_checks(self, contents: bytes) -> t.EmberStatus | None:
        if not self.up:
            return t.EmberStatus.NETWORK_DOWN
        if len(contents) > MAX_PAYLOAD:
            return t.EmberStatus.MESSAGE_TOO_LONG
        return None

    def ezsp_sendUnicast(self, type: t.EmberOutgoingMessageType, indexOrDestination: int,
                         apsFrame: t.EmberApsFrame, messageTag: int,
                         messageContents: bytes) -> dict[str, Any]:
        failed = self._send_checks(messageContents)
        if failed is not None:
            return {"status": failed, "sequence": 0}
        node = self.node
        assert node is not None
        destination = int(indexOrDestination)
        if type == t.EmberOutgoingMessageType.OUTGOING_VIA_ADDRESS_TABLE:
            entry = self.address_table.get(destination)
            if entry is None:
                return {"status": t.EmberStatus.ADDRESS_TABLE_INDEX_OUT_OF_RANGE,
                        "sequence": 0}
            destination = entry[1]
        elif type != t.EmberOutgoingMessageType.OUTGOING_DIRECT:
            return {"status": t.EmberStatus.INVALID_CALL, "sequence": 0}
        if destination >= BROADCAST_ROUTERS:
            return {"status": t.EmberStatus.BAD_ARGUMENT, "sequence": 0}
        if destination == node.short_address:
            return self._loopback(type, apsFrame, messageTag, bytes(messageContents))
        encrypt = bool(apsFrame.options & t.EmberApsOption.APS_OPTION_ENCRYPTION)
        sequence = (node.aps_counter + 1) & 0xFF
        frame = apsFrame.replace(sequence=sequence)
        try:
            node.send_data(destination, int(apsFrame.destinationEndpoint),
                           int(apsFrame.clusterId), bytes(messageContents),
                           source_endpoint=int(apsFrame.sourceEndpoint),
                           profile_id=int(apsFrame.profileId),
                           aps_security=True if encrypt else None,
                           on_confirm=self._sent(type, int(indexOrDestination), frame,
                                                 messageTag, bytes(messageContents)))
        except ValueError as error:   # no link key for APS security, or too long
            LOG.warning("NCP: sendUnicast to 0x%04X refused: %s", destination, error)
            return {"status": t.EmberStatus.SECURITY_CONFIGURATION_INVALID if encrypt
                    else t.EmberStatus.MESSAGE_TOO_LONG, "sequence": 0}
        return {"status": t.EmberStatus.SUCCESS, "sequence": sequence}

    def _loopback(self, kind: t.EmberOutgoingMessageType, frame: t.EmberApsFrame, tag: int,
                  contents: bytes) -> dict[str, Any]:
        """A unicast to this node: the stack answers what it answers (ZDO descriptors),
        anything else comes back to the host as received."""
        node = self.node
        assert node is not None and node.short_address is not None
        sequence = node.aps_counter = (node.aps_counter + 1) & 0xFF
        frame = frame.replace(sequence=sequence)
        sent = self._sent(kind, node.short_address, frame, tag, contents)
        reply = node.zdo_answer(int(frame.clusterId), contents) \
            if frame.profileId == 0 and frame.destinationEndpoint == 0 else None
        if reply is not None:
            back = Incoming(node.short_address, self.eui64, DeliveryMode.UNICAST, None,
                            sequence, 0, 0, int(frame.clusterId) | 0x8000, 0, reply, False, 255)
        else:
            back = Incoming(node.short_address, self.eui64, DeliveryMode.UNICAST, None,
                            sequence, int(frame.sourceEndpoint),
                            int(frame.destinationEndpoint), int(frame.clusterId),
                            int(frame.profileId), contents, False, 255)

        def deliver() -> None:
            sent(True)
            self._incoming(back)
        self._later(deliver, "loopback")
        return {"status": t.EmberStatus.SUCCESS, "sequence": sequence}

    def ezsp_sendBroadcast(self, destination: int, apsFrame: t.EmberApsFrame, radius: int,
                           messageTag: int, messageContents: bytes) -> dict[str, Any]:
        failed = self._send_checks(messageContents)
        if failed is not None:
            return {"status": failed, "sequence": 0}
        if destination < BROADCAST_ROUTERS:
            return {"status": t.EmberStatus.BAD_ARGUMENT, "sequence": 0}
        node = self.node
        assert node is not None
        sequence = (node.aps_counter + 1) & 0xFF
        node.send_data(int(destination), int(apsFrame.destinationEndpoint),
                       int(apsFrame.clusterId), bytes(messageContents),
                       source_endpoint=int(apsFrame.sourceEndpoint),
                       profile_id=int(apsFrame.profileId),
                       on_confirm=self._sent(t.EmberOutgoingMessageType.OUTGOING_BROADCAST,
                                             int(destination), apsFrame.replace(
                                                 sequence=sequence), messageTag,
                                             bytes(messageContents)))
        return {"status": t.EmberStatus.SUCCESS, "sequence": sequence}

    def ezsp_sendMulticast(self, apsFrame: t.EmberApsFrame, hops: int, nonmemberRadius: int,
                           messageTag: int, messageContents: bytes) -> dict[str, Any]:
        failed = self._send_checks(messageContents)
        if failed is not None:
            return {"status": failed, "sequence": 0}
        node = self.node
        assert node is not None
        sequence = (node.aps_counter + 1) & 0xFF
        node.send_group(int(apsFrame.groupId), int(apsFrame.clusterId),
                        int(apsFrame.profileId), int(apsFrame.sourceEndpoint),
                        bytes(messageContents),
                        on_done=self._sent(t.EmberOutgoingMessageType.OUTGOING_MULTICAST,
                                           int(apsFrame.groupId), apsFrame.replace(
                                               sequence=sequence), messageTag,
                                           bytes(messageContents)))
        return {"status": t.EmberStatus.SUCCESS, "sequence": sequence}

    def ezsp_sendReply(self, sender: int, apsFrame: t.EmberApsFrame,
                       messageContents: bytes) -> dict[str, Any]:
        if apsFrame.options & t.EmberApsOption.APS_OPTION_FRAGMENT and not messageContents:
            # the host acknowledging a fragment we handed up: the node acknowledged the
            # blocks over the air already
            return {"status": t.EmberStatus.SUCCESS if self.up else t.EmberStatus.NETWORK_DOWN}
        failed = self._send_checks(messageContents)
        if failed is not None:
            return {"status": failed}
        assert self.node is not None
        self.node.send_data(int(sender), int(apsFrame.destinationEndpoint),
                            int(apsFrame.clusterId), bytes(messageContents),
                            source_endpoint=int(apsFrame.sourceEndpoint),
                            profile_id=int(apsFrame.profileId))
        return {"status": t.EmberStatus.SUCCESS}

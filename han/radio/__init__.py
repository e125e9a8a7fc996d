"""The virtual 802.15.4 radio: the medium (in process, and across processes over loopback
UDP) and the ZigBee node that talks on it, layer by layer: `mac_layer` (802.15.4 MAC,
sleepy end devices), `aps_layer` (APS data service, fragmentation), `zdo` (Device Announce,
Match Descriptor) and `node` (joining, NWK and APS security, endpoints, persistence)."""

from han.radio.aps_layer import ApsIndication, Endpoint
from han.radio.medium import LinkModel, Medium, RadioError, Scheduler, epoch_us
from han.radio.node import JoinStatus, Node
from han.radio.udp import DatagramError, UdpParticipant

__all__ = ["ApsIndication", "DatagramError", "Endpoint", "JoinStatus", "LinkModel", "Medium",
           "Node", "RadioError", "Scheduler", "UdpParticipant", "epoch_us"]

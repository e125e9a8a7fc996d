"""An emulated Silicon Labs EZSP network co-processor (a ZigBee coordinator stick) for zigpy
hosts such as bellows: ASH on the serial link (`ash`), EZSP frames (`ezsp`), the stack the
commands drive (`stack`, `messaging`, `zdo_server`, on the virtual HAN's `node`), served
over TCP or a pty (`server`)."""

from han.ncp.ash import AshError, AshLink
from han.ncp.ezsp import PROTOCOL_VERSION, EzspEndpoint, EzspFrameError
from han.ncp.server import ClockBridge, NcpServer
from han.ncp.stack import EmulatedNcp

__all__ = ["PROTOCOL_VERSION", "AshError", "AshLink", "ClockBridge", "EmulatedNcp",
           "EzspEndpoint", "EzspFrameError", "NcpServer"]

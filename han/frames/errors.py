"""The typed errors the HAN frame codecs raise.

Every one is a `GbcsDecodeError` (message, byte offset, dotted field path), so a sniffer
that decodes ZigBee frames and the GBCS payloads inside them fails the same way at every
layer. Security failures are decode failures too: a frame whose MIC does not verify or whose
frame counter is stale is, to a receiver, bytes it must not accept.
"""

from __future__ import annotations

from gbcs.errors import GbcsDecodeError


class FrameDecodeError(GbcsDecodeError):
    """Malformed 802.15.4 / NWK / APS bytes: what is wrong, at which offset, in which field."""


class FrameSecurityError(FrameDecodeError):
    """A secured frame that cannot be accepted: no usable key or nonce, or a bad MIC."""


class ReplayError(FrameSecurityError):
    """A frame counter not above the high-water mark kept for its source (a replay)."""

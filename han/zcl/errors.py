"""The typed error the HAN ZCL codec raises.

A `GbcsDecodeError` (message, byte offset, dotted field path) like every other decoder in
the lab, so a sniffer fails the same way whether the ZCL came over the air or inside a GBZ
component.
"""

from __future__ import annotations

from gbcs.errors import GbcsDecodeError


class ZclDecodeError(GbcsDecodeError):
    """A ZCL frame that does not fit its header or its command's schema."""


# What zigpy's (de)serializers raise on short, out-of-range or inconsistent input; the codec
# turns each into a `ZclDecodeError`.
ZIGPY_ERRORS = (ValueError, KeyError, IndexError, TypeError, OverflowError, AttributeError,
                AssertionError)

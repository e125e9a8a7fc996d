"""Type 2 devices: the in-home display and consumer access devices (`ihd.Type2Device`)."""

from firmware.ihd.ihd import Kind, Type2Device
from firmware.ihd.screen import Fuel, Message, Screen

__all__ = ["Fuel", "Kind", "Message", "Screen", "Type2Device"]

"""The PPMID firmware: the prepayment meter interface device (`Ppmid`) and its screen."""

from firmware.ppmid.display import Alert, Fuel, MeterView, Screen
from firmware.ppmid.ppmid import (
    EnablePolicy, GbcsOut, HanFrame, Outgoing, Ppmid, PpmidError,
)

__all__ = ["Alert", "EnablePolicy", "Fuel", "GbcsOut", "HanFrame", "MeterView", "Outgoing",
           "Ppmid", "PpmidError", "Screen"]

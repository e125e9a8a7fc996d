"""The ESME metering engine: metrology, tariffs, prepayment, supply and logs in virtual
time, persisted in the device's non-volatile store (see `engine.MeterEngine`)."""

from firmware.esme.engine.codes import Alert
from firmware.esme.engine.config import MONEY_SCALER, UNITS_PER_PENNY, EngineConfig
from firmware.esme.engine.engine import (BUTTON_BOOST, BUTTON_EMERGENCY_CREDIT,
                                          BUTTON_ENABLE, MeterEngine)
from firmware.esme.engine.errors import EngineError
from firmware.esme.engine.metrology import LoadModel
from firmware.esme.engine.prepayment import (CreditConfig, EmergencyCredit,
                                              NonDisablementCalendar, PaymentMode)
from firmware.esme.engine.supply import (AlcsSchedule, LoadLimitConfig, SupplyState,
                                          VoltageConfig)
from firmware.esme.engine.tariff import (DayProfile, Season, SwitchingTable, Tariff,
                                          single_rate, two_rate)
from firmware.esme.engine.utrn import UtrnError, make_utrn, verify_utrn

__all__ = ["Alert", "AlcsSchedule", "BUTTON_BOOST", "BUTTON_EMERGENCY_CREDIT",
           "BUTTON_ENABLE", "CreditConfig", "DayProfile", "EmergencyCredit", "EngineConfig",
           "EngineError", "LoadLimitConfig", "LoadModel", "MONEY_SCALER", "MeterEngine",
           "NonDisablementCalendar", "PaymentMode", "Season", "SupplyState",
           "SwitchingTable", "Tariff", "UNITS_PER_PENNY", "UtrnError", "VoltageConfig",
           "make_utrn", "single_rate", "two_rate", "verify_utrn"]

"""COSEM names: interface classes with their attribute and method names (Blue Book),
OBIS codes with the names GBCS and the OBIS system give them, and DLMS units.

Names of GBCS objects follow the GBCS use case tables (and the ESME use case that reads
or writes each object); standard electricity quantities (A = 1) are named from the OBIS
value groups C, D and E, so a register GBCS does not list still reads as, for example,
"Voltage L1 over limit threshold".
"""

from __future__ import annotations

from functools import lru_cache


# class id -> (class name, attribute names from attribute 1, method names from method 1)
CLASSES: dict[int, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    1: ("Data", ("logical_name", "value"), ()),
    3: ("Register", ("logical_name", "value", "scaler_unit"), ("reset",)),
    4: ("Extended register",
        ("logical_name", "value", "scaler_unit", "status", "capture_time"), ("reset",)),
    5: ("Demand register",
        ("logical_name", "current_average_value", "last_average_value", "scaler_unit",
         "status", "capture_time", "start_time_current", "period", "number_of_periods"),
        ("reset", "next_period")),
    6: ("Register activation",
        ("logical_name", "register_assignment", "mask_list", "active_mask"),
        ("add_register", "add_mask", "delete_mask")),
    7: ("Profile generic",
        ("logical_name", "buffer", "capture_objects", "capture_period", "sort_method",
         "sort_object", "entries_in_use", "profile_entries"), ("reset", "capture")),
    8: ("Clock",
        ("logical_name", "time", "time_zone", "status", "daylight_savings_begin",
         "daylight_savings_end", "daylight_savings_deviation", "daylight_savings_enabled",
         "clock_base"),
        ("adjust_to_quarter", "adjust_to_measuring_period", "adjust_to_minute",
         "adjust_to_preset_time", "preset_adjusting_time", "shift_time")),
    9: ("Script table", ("logical_name", "scripts"), ("execute",)),
    10: ("Schedule", ("logical_name", "entries"), ("enable_disable", "insert", "delete")),
    11: ("Special days table", ("logical_name", "entries"), ("insert", "delete")),
    15: ("Association LN",
         ("logical_name", "object_list", "associated_partners_id", "application_context_name",
          "xDLMS_context_info", "authentication_mechanism_name", "secret",
          "association_status", "security_setup_reference", "user_list", "current_user"),
         ("reply_to_HLS_authentication", "change_HLS_secret", "add_object", "remove_object",
          "add_user", "remove_user")),
    18: ("Image transfer",
         ("logical_name", "image_block_size", "image_transferred_blocks_status",
          "image_first_not_transferred_block_number", "image_transfer_enabled",
          "image_transfer_status", "image_to_activate_info"),
         ("image_transfer_initiate", "image_block_transfer", "image_verify",
          "image_activate")),
    20: ("Activity calendar",
         ("logical_name", "calendar_name_active", "season_profile_active",
          "week_profile_table_active", "day_profile_table_active", "calendar_name_passive",
          "season_profile_passive", "week_profile_table_passive", "day_profile_table_passive",
          "activate_passive_calendar_time"),
         ("activate_passive_calendar",)),
    21: ("Register monitor", ("logical_name", "thresholds", "monitored_value", "actions"), ()),
    22: ("Single action schedule",
         ("logical_name", "executed_script", "type", "execution_time"), ()),
    30: ("Data protection",
         ("logical_name", "protection_buffer", "protection_object_list",
          "protection_parameters_get", "protection_parameters_set", "required_protection"),
         ("get_protected_attributes", "set_protected_attributes",
          "invoke_protected_method")),
    40: ("Push setup",
         ("logical_name", "push_object_list", "send_destination_and_method",
          "communication_window", "randomisation_start_interval", "number_of_retries",
          "repetition_delay"), ("push",)),
    63: ("Status mapping", ("logical_name", "status_word", "mapping_table"), ()),
    64: ("Security setup",
         ("logical_name", "security_policy", "security_suite", "client_system_title",
          "server_system_title", "certificates"),
         ("security_activate", "key_transfer", "key_agreement", "generate_key_pair",
          "generate_certificate_request", "import_certificate", "export_certificate",
          "remove_certificate")),
    70: ("Disconnect control",
         ("logical_name", "output_state", "control_state", "control_mode"),
         ("remote_disconnect", "remote_reconnect")),
    71: ("Limiter",
         ("logical_name", "monitored_value", "threshold_active", "threshold_normal",
          "threshold_emergency", "min_over_threshold_duration",
          "min_under_threshold_duration", "emergency_profile",
          "emergency_profile_group_id_list", "emergency_profile_active", "actions"), ()),
    104: ("ZigBee network control",
          ("logical_name", "enable_disable_joining", "join_timeout", "active_devices"),
          ("register_device", "unregister_device", "unregister_all_devices", "backup_PAN",
           "restore_PAN", "identify_device", "remove_mirror", "update_network_key",
           "update_link_key", "create_PAN", "remove_PAN")),
    111: ("Account",
          ("logical_name", "account_mode_and_status", "current_credit_in_use",
           "current_credit_status", "available_credit", "amount_to_clear",
           "clearance_threshold", "aggregated_debt", "credit_reference_list",
           "charge_reference_list", "credit_charge_configuration",
           "token_gateway_configuration", "account_activation_time", "account_closure_time",
           "currency", "low_credit_threshold", "next_credit_available_threshold",
           "max_provision", "max_provision_period"),
          ("activate_account", "close_account", "reset_account")),
    112: ("Credit",
          ("logical_name", "current_credit_amount", "credit_type", "priority",
           "warning_threshold", "limit", "credit_configuration", "credit_status",
           "preset_credit_amount", "credit_available_threshold", "period"),
          ("update_amount", "set_amount_to_value", "invoke_credit")),
    113: ("Charge",
          ("logical_name", "total_amount_paid", "charge_type", "priority",
           "unit_charge_active", "unit_charge_passive", "unit_charge_activation_time",
           "period", "charge_configuration", "last_collection_time",
           "last_collection_amount", "total_amount_remaining", "proportion"),
          ("update_unit_charge", "activate_passive_unit_charge", "collect",
           "update_total_amount_remaining", "set_total_amount_remaining")),
    115: ("Token gateway",
          ("logical_name", "token", "token_time", "token_description",
           "token_delivery_method", "token_status"), ("enter",)),
    # GBCS's own interface class for values with an active and a passive copy.
    9000: ("GBCS extended data",
           ("logical_name", "value_active", "scaler_unit_active", "value_passive",
            "scaler_unit_passive", "activate_passive_value_time"), ()),
}


def class_name(class_id: int) -> str:
    entry = CLASSES.get(class_id)
    return entry[0] if entry else f"interface class {class_id}"


def attribute_name(class_id: int, attribute_id: int) -> str:
    entry = CLASSES.get(class_id)
    if entry and 1 <= attribute_id <= len(entry[1]):
        return entry[1][attribute_id - 1]
    return f"attribute {attribute_id}"


def method_name(class_id: int, method_id: int) -> str:
    entry = CLASSES.get(class_id)
    if entry and 1 <= method_id <= len(entry[2]):
        return entry[2][method_id - 1]
    return f"method {method_id}"


def format_obis(raw: bytes) -> str:
    """An OBIS code (6 octets) in its usual A-B:C.D.E.F form."""
    if len(raw) != 6:
        return raw.hex().upper()
    return f"{raw[0]}-{raw[1]}:{raw[2]}.{raw[3]}.{raw[4]}.{raw[5]}"


def _obis(text: str) -> bytes:
    a, rest = text.split("-")
    b, rest = rest.split(":")
    return bytes([int(a), int(b)] + [int(x) for x in rest.split(".")])


_NAMES = {
    # Identification and clock
    "0-0:0.2.1.255": "Firmware version",
    "0-0:1.0.0.255": "Clock",
    "0-0:96.1.0.255": "Device ID 1",
    "0-0:96.1.1.255": "Device ID 2",
    "0-0:96.1.2.255": "Meter variant",
    "0-0:96.1.3.255": "Device ID 4",
    "0-0:96.1.4.255": "Model type",
    "0-0:96.1.5.255": "Device ID 6",
    "0-0:96.1.6.255": "Manufacturer identifier",
    "0-0:94.44.0.0": "Randomised offset",
    "0-0:94.44.0.1": "Randomised offset limit",
    "0-0:94.44.0.2": "Randomised offset number",
    "0-0:94.44.0.4": "Supply tamper state",
    "1-0:0.0.2.255": "Export MPAN",
    # Script tables (Blue Book)
    "0-0:10.0.0.255": "Global meter reset script table",
    "0-0:10.0.1.255": "MDI reset / end of billing period script table",
    "0-0:10.0.100.255": "Tariffication script table",
    "0-0:10.0.103.255": "Set output signals script table",
    "0-0:10.0.106.255": "Disconnector script table",
    "0-0:10.0.107.255": "Image activation script table",
    # Tariff
    "0-0:13.0.0.255": "Tariff switching table",
    "0-0:13.0.1.255": "Tariff switching table (secondary element)",
    "0-0:11.0.0.255": "Tariff switching table special days",
    "0-1:11.0.0.255": "Tariff switching table special days",
    "0-0:11.0.1.255": "Tariff switching table special days (secondary element)",
    "0-1:11.0.1.255": "Tariff switching table special days (secondary element)",
    "0-0:11.0.2.255": "Non-disablement calendar special days",
    "0-1:11.0.2.255": "Non-disablement calendar special days",
    "0-0:11.0.3.255": "Auxiliary load control calendar special days",
    "0-1:11.0.3.255": "Auxiliary load control calendar special days",
    "0-0:12.0.1.255": "Non-disablement calendar",
    "0-1:12.0.1.255": "Non-disablement calendar",
    "0-0:12.0.2.255": "Auxiliary load control calendar",
    "0-1:12.0.2.255": "Auxiliary load control calendar",
    "0-0:63.1.1.255": "Tariff threshold matrix",
    "0-0:15.0.0.255": "Billing calendar",
    "0-0:15.1.0.255": "Tariff block counter matrix daily reset",
    "0-0:16.0.0.255": "Instantaneous power thresholds",
    "0-0:94.44.34.1": "Tariff TOU register collection",
    "0-0:94.44.34.2": "Tariff block TOU register collection",
    "0-0:94.44.34.10": "Import register collection",
    "0-0:94.44.34.20": "Power import collection",
    "0-0:94.44.34.30": "Pre-payment register collection",
    # Prepayment
    "0-0:19.0.0.255": "Account",
    "0-1:19.0.0.255": "Account (payment mode)",
    "0-0:19.10.0.255": "Meter balance",
    "0-0:19.10.1.255": "Emergency credit balance",
    "0-0:19.10.2.255": "Accumulated debt register",
    "0-0:19.20.0.255": "Tariff block price matrix TOU",
    "0-0:19.20.1.255": "Debt recovery rates 1",
    "0-0:19.20.2.255": "Debt recovery rates 2",
    "0-0:19.20.3.255": "Debt recovery per payment",
    "0-0:19.20.4.255": "Standing charge",
    "0-0:19.20.5.255": "Secondary tariff TOU price matrix",
    "0-0:19.40.0.255": "Prepayment credit (token gateway)",
    "0-0:94.44.2.0": "Currency unit",
    "0-0:94.44.2.10": "Prepayment credit max credit threshold",
    "0-0:94.44.2.20": "Prepayment credit max meter balance",
    "0-0:94.44.128.2": "Emergency credit limit",
    "0-0:94.44.128.3": "Emergency credit threshold",
    "0-0:94.44.128.9": "Low credit threshold",
    "0-0:94.44.128.12": "Debt recovery rate cap amount",
    "0-0:94.44.128.13": "Debt recovery rate cap period",
    "0-0:94.44.128.22": "Disablement threshold meter balance",
    "0-0:94.44.128.28": "Non-disablement calendar",
    "0-0:94.44.128.29": "Tariff switching table special days",
    "0-0:94.44.128.30": "Tariff switching table special days (secondary element)",
    "0-0:94.44.128.31": "Non-disablement calendar special days",
    # Supplier, privacy, change of tenancy
    "0-0:96.13.0.255": "Supplier contact telephone number",
    "0-0:96.13.1.255": "Supplier contact name",
    "0-2:96.13.1.255": "Supplier message",
    "0-0:94.44.3.1": "Disable privacy PIN protection",
    "0-0:94.44.3.2": "Restrict data date-time (change of tenancy)",
    # Load switches
    "0-0:96.3.10.255": "Supply disconnect control (load switch)",
    "0-1:96.3.10.255": "Auxiliary load control switch 1",
    "0-2:96.3.10.255": "Auxiliary load control switch 2",
    "0-3:96.3.10.255": "Auxiliary load control switch 3",
    "0-4:96.3.10.255": "Auxiliary load control switch 4",
    "0-5:96.3.10.255": "Auxiliary load control switch 5",

    "0-0:17.0.0.255": "Limiter (load limit)",
    "0-0:17.0.1.255": "RMS extreme over voltage limiter",
    "0-0:17.0.2.255": "RMS extreme under voltage limiter",
    "0-0:17.0.3.255": "RMS voltage sag limiter",
    "0-0:17.0.4.255": "RMS voltage swell limiter",
    "1-0:32.31.0.4": "Average RMS under voltage threshold (phase 1)",
    "1-0:32.35.0.4": "Average RMS over voltage threshold (phase 1)",
    "1-0:52.31.0.4": "Average RMS under voltage threshold (phase 2)",
    "1-0:52.35.0.4": "Average RMS over voltage threshold (phase 2)",
    "1-0:72.31.0.4": "Average RMS under voltage threshold (phase 3)",
    "1-0:72.35.0.4": "Average RMS over voltage threshold (phase 3)",
    # Logs and profiles
    "0-0:99.98.0.255": "Event log",
    "0-0:99.98.1.255": "Security log",
    "0-0:99.98.4.255": "Power event log",
    "0-17:99.98.2.255": "Auxiliary load control switch event log",
    "0-0:98.1.0.255": "Billing data log (billing calendar triggered)",
    "0-0:98.1.1.255": "Billing data log (billing calendar triggered)",
    "0-0:98.1.2.255": "Billing data log (change of mode / tariff triggered)",
    "0-0:98.1.4.255": "Billing data log (payment-based debt payments)",
    "0-0:98.1.5.255": "Billing data log (pre-payment credits)",
    "0-0:98.1.8.255": "Daily read log (pre-payment)",
    "0-0:98.1.9.255": "Daily read log",
    "0-0:98.1.10.255": "Daily read log (export)",
    "0-0:99.1.0.255": "Half hour profile data (active import)",
    "0-0:99.1.1.255": "Half hour profile data (export)",
    "0-0:99.1.2.255": "Half hour profile data (reactive import)",
    "0-0:99.1.3.255": "Daily consumption log",
    # Data protection objects, named for what they protect
    "0-0:43.2.1.255": "Data protection: pre-payment registers",
    "0-0:43.2.2.255": "Data protection: billing data log (billing calendar triggered)",
    "0-0:43.2.3.255": "Data protection: billing data log (change of mode / tariff)",
    "0-0:43.2.4.255": "Data protection: daily consumption log",
    "0-0:43.2.5.255": "Data protection: daily read log",
    "0-0:43.2.6.255": "Data protection: daily read log (pre-payment)",
    "0-0:43.2.7.255": "Data protection: half hour profile data (active import)",
    "0-0:43.2.8.255": "Data protection: import register collection",
    "0-0:43.2.9.255": "Data protection: tariff TOU register collection",
    "0-0:43.2.10.255": "Data protection: tariff block TOU register collection",
    # Comms hub
    "0-0:30.3.0.255": "ZigBee network control (CHF device log)",
    "0-0:94.44.10.0": "Sub GHz configuration settings",
    "0-0:94.44.10.1": "CHF sub GHz channel scan",
    "0-0:94.44.10.2": "Operating sub GHz channel",
    "0-0:94.44.10.3": "CHF sub GHz channel log",
}
# (HAN connected) auxiliary load control switches 1..5.
_NAMES.update({f"0-0:94.44.0.{10 + n}": f"Auxiliary load control switch {n} description"
               for n in range(1, 6)})
_NAMES.update({f"0-0:94.44.0.{20 + n}": f"Auxiliary load control switch {n} type and identifier"
               for n in range(1, 6)})
# Tariff threshold matrix blocks per TOU rate: register monitors 0-0:16.0.11..18 (read)
# and 0-0:16.1.11..18 (written with the tariff).
_NAMES.update({f"0-0:16.{b}.{10 + n}.255": f"Tariff threshold matrix blocks TOU{n}"
               for b in (0, 1) for n in range(1, 9)})
OBIS_NAMES: dict[bytes, str] = {_obis(k): v for k, v in _NAMES.items()}

# Electricity quantities (value group C) and processing (value group D), IEC 62056-61.
_QUANTITY = {
    1: ("Active power import (+P)", "Active energy import (A+)"),
    2: ("Active power export (-P)", "Active energy export (A-)"),
    3: ("Reactive power import (+Q)", "Reactive energy import (R+)"),
    4: ("Reactive power export (-Q)", "Reactive energy export (R-)"),
    5: ("Reactive power QI", "Reactive energy QI"),
    6: ("Reactive power QII", "Reactive energy QII"),
    7: ("Reactive power QIII", "Reactive energy QIII"),
    8: ("Reactive power QIV", "Reactive energy QIV"),
    9: ("Apparent power import (+S)", "Apparent energy import"),
    10: ("Apparent power export (-S)", "Apparent energy export"),
    11: ("Current", "Current"),
    12: ("Voltage", "Voltage"),
    13: ("Power factor", "Power factor"),
    14: ("Supply frequency", "Supply frequency"),
    21: ("Active power import L1", "Active energy import L1"),
    22: ("Active power export L1", "Active energy export L1"),
    31: ("Current L1", "Current L1"),
    32: ("Voltage L1", "Voltage L1"),
    33: ("Power factor L1", "Power factor L1"),
    41: ("Active power import L2", "Active energy import L2"),
    42: ("Active power export L2", "Active energy export L2"),
    51: ("Current L2", "Current L2"),
    52: ("Voltage L2", "Voltage L2"),
    53: ("Power factor L2", "Power factor L2"),
    61: ("Active power import L3", "Active energy import L3"),
    62: ("Active power export L3", "Active energy export L3"),
    71: ("Current L3", "Current L3"),
    72: ("Voltage L3", "Voltage L3"),
    73: ("Power factor L3", "Power factor L3"),
    91: ("Neutral current", "Neutral current"),
}
_TIME_INTEGRALS = frozenset((8, 9, 10, 17, 18, 19, 20, 29, 30, 58))
_PROCESSING = {
    0: "billing period average", 3: "minimum", 4: "current average", 5: "last average",
    6: "maximum demand", 7: "instantaneous", 13: "minimum 2", 14: "current average 2",
    15: "last average 2", 16: "maximum demand 2", 24: "current average 3",
    25: "last average 3", 31: "under limit threshold", 32: "under limit occurrence counter",
    33: "under limit duration", 34: "under limit magnitude", 35: "over limit threshold",
    36: "over limit occurrence counter", 37: "over limit duration",
    38: "over limit magnitude", 39: "missing threshold", 40: "missing occurrence counter",
    41: "missing duration", 42: "missing magnitude",
}
_ABSTRACT = {
    1: "Clock", 10: "Script table", 11: "Special days table", 12: "Schedule",
    13: "Activity calendar", 15: "Single action schedule", 16: "Register monitor",
    17: "Limiter", 19: "Prepayment object", 30: "ZigBee network control",
    43: "Data protection",
}


def _electricity_name(raw: bytes) -> str | None:
    c, d, e = raw[2], raw[3], raw[4]
    quantity = _QUANTITY.get(c)
    if quantity is None:
        return None
    if d in _TIME_INTEGRALS:
        base = quantity[1]
    else:
        processing = _PROCESSING.get(d)
        if processing is None:
            return None
        base = f"{quantity[0]} {processing}"
    if d in _TIME_INTEGRALS or d in (0, 3, 4, 5, 6, 13, 14, 15, 16):
        return f"{base} {'total' if e == 0 else f'rate {e}'}"
    return base if e == 0 else f"{base} ({e})"


def obis_name(raw: bytes) -> str | None:
    """The GBCS or OBIS name of a logical name, if one is known."""
    name = OBIS_NAMES.get(raw)
    if name is not None or len(raw) != 6:
        return name
    if raw[0] == 1:
        return _electricity_name(raw)
    if raw[0] == 0 and raw[2] == 97 and raw[3] == 98:
        kind = ("Alarm register", "Alarm filter", "Alarm descriptor")
        if raw[4] < 30:
            return f"{kind[raw[4] // 10]} {raw[4] % 10 + 1}"
    if raw[0] == 0 and raw[2] == 99 and raw[3] == 98:
        return f"Event log {raw[4]}"
    if raw[0] == 0 and raw[2] in _ABSTRACT and raw[5] == 255:
        return _ABSTRACT[raw[2]]
    return None


@lru_cache(maxsize=4096)
def describe_obis(raw: bytes) -> str:
    """'A-B:C.D.E.F Name' (or just the code when it has no known name)."""
    name = obis_name(raw)
    code = format_obis(raw)
    return f"{code} {name}" if name else code


# DLMS units (Blue Book, enum of scaler_unit).
UNITS: dict[int, str] = {
    1: "a", 2: "mo", 3: "wk", 4: "d", 5: "h", 6: "min", 7: "s", 8: "°", 9: "°C",
    10: "currency", 11: "m", 12: "m/s", 13: "m³", 14: "m³ (corrected)", 15: "m³/h",
    16: "m³/h (corrected)", 17: "m³/d", 18: "m³/d (corrected)", 19: "l", 20: "kg",
    21: "N", 22: "Nm", 23: "Pa", 24: "bar", 25: "J", 26: "J/h", 27: "W", 28: "VA",
    29: "var", 30: "Wh", 31: "VAh", 32: "varh", 33: "A", 34: "C", 35: "V", 36: "V/m",
    37: "F", 38: "Ω", 39: "Ωm²/m", 40: "Wb", 41: "T", 42: "A/m", 43: "H", 44: "Hz",
    45: "1/(Wh)", 46: "1/(varh)", 47: "1/(VAh)", 48: "V²h", 49: "A²h", 50: "kg/s",
    51: "S", 52: "K", 53: "1/(V²h)", 54: "1/(A²h)", 55: "1/m³", 56: "%", 57: "Ah",
    60: "Wh/m³", 61: "J/m³", 62: "Mol %", 63: "g/m³", 64: "Pa s", 65: "J/kg",
    70: "dBm", 71: "dBµV", 72: "dB", 254: "(other unit)", 255: "(count)",
}


def unit_name(unit: int) -> str:
    return UNITS.get(unit, f"unit {unit}")


@lru_cache(maxsize=4096)  # register reads and unit charges repeat
def scaled(value: int, scaler: int, unit: int) -> str:
    """value × 10^scaler in exact decimal with its unit symbol (no float rounding)."""
    if scaler >= 0:
        text = str(value * 10 ** scaler)
    else:
        sign = "-" if value < 0 else ""
        digits = str(abs(value)).rjust(-scaler + 1, "0")
        text = f"{sign}{digits[:scaler]}.{digits[scaler:]}"
    symbol = UNITS.get(unit)
    if symbol is None or unit == 255:
        return text
    return f"{text} {symbol}"

"""The GBCS use-case catalogue: every message code, what it is and who handles it.

A GBCS message carries a 2-byte message code in the other-information field of its
grouping header. The code names the use case (``ECS01a``, ``GCS13a``, ``CS02b`` ...), and
with it the payload format (DLMS COSEM for the ESME and the CHF, GBZ for the GSME and the
GPF, ASN.1 DER for credentials, joins, firmware and clock setting), whether the message is
critical (signed by its originator), which device types execute it or send it, and which
DUIS service request variants (SRVs) make the DCC send it.

Sources: the GBCS message code table and use-case titles, the GBCS mapping table shipped
with the DCC's DUIS templates (message types), and the DCC Reference Test Data Set, whose
messages show each code's payload, signature and target device, and whose folder and
template names pair SRVs with use cases. The table is plain data: no I/O at import.
"""

from __future__ import annotations

from dataclasses import dataclass

# Device types, as GBCS names them. Type 2 devices (IHD, CAD) never receive or send a
# GBCS message; SAPC is GBCS 5's standalone auxiliary proportional controller.
ESME, GSME, CHF, GPF = "ESME", "GSME", "CHF", "GPF"
PPMID, HCALCS, IHD, CAD, SAPC = "PPMID", "HCALCS", "IHD", "CAD", "SAPC"
DEVICE_TYPES = (ESME, GSME, CHF, GPF, PPMID, HCALCS, IHD, CAD, SAPC)

# Payload formats. ZSE: a plain ZigBee SE command on the HAN, never framed as GBCS.
# BY_CONTENT: the generic alerts, DLMS from an ESME or CHF and GBZ from a GSME or GPF;
# the content's first bytes tell which.
DLMS, GBZ, ASN1, ZSE, BY_CONTENT = "DLMS", "GBZ", "ASN.1", "ZSE", ""
PAYLOADS = (DLMS, GBZ, ASN1, ZSE, BY_CONTENT)


@dataclass(frozen=True, slots=True)
class UseCase:
    """One GBCS message code.

    `use_case` is the GBCS use-case id, or "" for the alert codes GBCS defines outside any
    use case (future-dated outcome, firmware receipt, meter integrity, generic alerts).
    `devices` are the device types that execute the command, or send the alert.
    `critical` is True for critical commands and alerts (signed by the originator, and so
    is the response to a critical command), False for non-critical ones, None where GBCS
    lets it vary (CS02a, CS02e, CS02f, the ACB's own CS02b), for HAN-only ZSE messages,
    and where unknown.
    `srvs` are the DUIS service reference variants that trigger the command; alerts have
    none. `alert` is True for codes only ever sent as alerts (CRA flag 3).
    """

    code: int
    use_case: str
    name: str
    devices: tuple[str, ...]
    payload: str
    critical: bool | None
    srvs: tuple[str, ...]
    alert: bool = False

    @property
    def title(self) -> str:
        """`use_case` and `name` as GBCS titles the message code, e.g. "ECS17b Read ..."."""
        return f"{self.use_case} {self.name}" if self.use_case else self.name


def _c(code: int, use_case: str, name: str, devices: tuple[str, ...], payload: str,
       critical: bool | None, *srvs: str) -> UseCase:
    return UseCase(code, use_case, name, devices, payload, critical, srvs)


def _a(code: int, use_case: str, name: str, devices: tuple[str, ...], payload: str,
       critical: bool | None) -> UseCase:
    return UseCase(code, use_case, name, devices, payload, critical, (), True)


_ESME, _GSME, _CHF, _GPF = (ESME,), (GSME,), (CHF,), (GPF,)
_GAS = (GSME, GPF)  # reads the GPF answers from its mirror when its copy is reliable
_METERS = (ESME, GSME)
_AUX = (ESME, SAPC)  # auxiliary (proportional) controllers and load controller credentials
_SMKI = (ESME, GSME, CHF, GPF)  # devices holding remote-party credentials, which alert remote parties

# One row per message code: code, use-case id, name, devices, payload, critical, SRVs.
# 0x0004 and 0x011A..0x012B come from the RTDS messages, named after the GBCS mapping
# table; gaps in the sequence are codes GBCS withdrew or that no reference here shows
# (0x0127 among them).
_TABLE = (
    _c(0x0001, "CCS01", "Add Device to CHF device log", _CHF, DLMS, False, "8.11"),
    _c(0x0002, "CCS02", "Remove device from CHF device log", _CHF, DLMS, False, "8.11"),
    _c(0x0003, "CCS03", "Restore CHF Device Log", _CHF, DLMS, False, "8.12.1"),
    _c(0x0004, "CCS04", "Read CHF device log / Check HAN communications (by reading the CHF Communications Store)", _CHF, DLMS, False, "8.9"),
    _c(0x0007, "CS01a", "Apply Prepayment Top Up to an ESME", _ESME, DLMS, False, "2.2"),
    _c(0x0008, "CS02a", "Provide Security Credentials Details", _SMKI, ASN1, None, "6.24.1"),
    _c(0x000A, "CS02c", "Issue Security Credentials", _SMKI, ASN1, True, "6.17"),
    _c(0x000B, "CS02d", "Update Device Certificates on Device", _SMKI, ASN1, True, "6.15.2"),
    _c(0x000C, "CS02e", "Provide Device Certificates from Device", _SMKI, ASN1, None, "6.24.2"),
    _c(0x000D, "CS03A1", "Method A Join (Meter)", _METERS, ASN1, True, "8.7.1"),
    _c(0x000E, "CS03B", "Method B Join", _METERS, ASN1, False, "8.7.2"),
    _c(0x000F, "CS04AC", "Method A or C Unjoin", (ESME, GSME, PPMID, HCALCS), ASN1, True, "8.8.1", "8.8.2"),
    _c(0x0010, "CS04B", "Method B Unjoin", _METERS, ASN1, False, "8.8.2"),
    _c(0x0012, "CS06", "Activate Firmware", (ESME, GSME, CHF), ASN1, True, "11.3"),
    _c(0x0013, "CS07", "Read Device Join Details", (ESME, GSME, PPMID, HCALCS), ASN1, False, "8.9"),
    _c(0x0014, "CS10a", "Read ZigBee Device Event Log", (GSME, GPF), GBZ, False, "6.13"),
    _c(0x0015, "CS11", "Clear ZigBee Device Event Log", _GSME, GBZ, False, "3.3"),
    _a(0x0018, "CS14", "Device Addition To / Removal From HAN Whitelist Alerts", _CHF, DLMS, False),
    _c(0x0019, "ECS01a", "Set Tariff and Price on ESME", _ESME, DLMS, True, "1.1.1"),
    _c(0x001A, "ECS02", "Set ESME Payment Mode to Credit", _ESME, DLMS, True, "1.6"),
    _c(0x001B, "ECS03", "Set ESME Payment Mode to Prepayment", _ESME, DLMS, True, "1.6"),
    _c(0x001C, "ECS04a", "Adjust Meter Balance on the ESME", _ESME, DLMS, True, "1.5"),
    _c(0x001D, "ECS05", "Reset Tariff Block Counter Matrix", _ESME, DLMS, True, "1.7"),
    _c(0x001E, "ECS07", "Manage Debt on the ESME", _ESME, DLMS, True, "2.3"),
    _c(0x001F, "ECS08", "Update Prepayment Configuration on ESME", _ESME, DLMS, True, "2.1"),
    _c(0x0020, "ECS09", "Activate Emergency Credit Remotely on ESME", _ESME, DLMS, True, "2.5"),
    _c(0x0021, "ECS10", "Send Message to ESME", _ESME, DLMS, False, "3.1"),
    _c(0x0022, "ECS12", "Set Change of Tenancy date on ESME", _ESME, DLMS, False, "3.2"),
    _c(0x0023, "ECS14", "Disable Privacy PIN Protection on ESME", _ESME, DLMS, False, "3.5"),
    _c(0x0024, "ECS15a", "Clear ESME Event Log", _ESME, DLMS, False, "3.3"),
    _c(0x0025, "ECS16", "Write Supplier Contact Details on ESME", _ESME, DLMS, False, "3.4"),
    _c(0x0026, "ECS17a", "Read ESME Energy Registers (Export Energy)", _ESME, DLMS, False, "4.2"),
    _c(0x0027, "ECS17b", "Read ESME Energy Registers (Import Energy)", _ESME, DLMS, False, "4.1.1"),
    _c(0x0028, "ECS17c", "Read ESME Energy Registers (Power)", _ESME, DLMS, False, "4.16"),
    _c(0x0029, "ECS17d", "Read ESME Energy Register (TOU)", _ESME, DLMS, False, "4.1.2"),
    _c(0x002A, "ECS17e", "Read ESME Energy Register (TOU with Blocks)", _ESME, DLMS, False, "4.1.3"),
    _c(0x002B, "ECS18a", "Read Maximum Demand Registers (export)", _ESME, DLMS, False, "4.12.2"),
    _c(0x002C, "ECS18b", "Read Maximum Demand Registers (import)", _ESME, DLMS, False, "4.12.1"),
    _c(0x002D, "ECS19", "Read ESME Prepayment Registers", _ESME, DLMS, False, "4.3"),
    _c(0x002E, "ECS20a", "Read ESME Billing Data Log (payment based debt payments)", _ESME, DLMS, False, "4.4.4"),
    _c(0x002F, "ECS20b", "Read ESME Billing Data Log (change of mode / tariff triggered exc export)", _ESME, DLMS, False, "4.4.2"),
    _c(0x0030, "ECS20c", "Read ESME Billing Data Log (billing calendar triggered exc export)", _ESME, DLMS, False, "4.4.3"),
    _c(0x0033, "ECS21a", "Read Electricity Daily Read Log (exc export)", _ESME, DLMS, False, "4.6.1"),
    _c(0x0034, "ECS21b", "Read Electricity (Prepayment) Daily Read Log", _ESME, DLMS, False, "4.14"),
    _c(0x0035, "ECS21c", "Read Electricity Daily Read Log (export only)", _ESME, DLMS, False, "4.6.2"),
    _c(0x0036, "ECS22a", "Read Electricity Half Hour Profile Data (export)", _ESME, DLMS, False, "4.8.3"),
    _c(0x0037, "ECS22b", "Read Electricity Half Hour Profile Data (active import)", _ESME, DLMS, False, "4.8.1"),
    _c(0x0038, "ECS22c", "Read Electricity Half Hour Profile Data (reactive import)", _ESME, DLMS, False, "4.8.2"),
    _c(0x0039, "ECS23", "Read Voltage Operational Data", _ESME, DLMS, False, "4.10"),
    _c(0x003A, "ECS24", "Read ESME Tariff Data", _ESME, DLMS, False, "4.11.1"),
    _c(0x003B, "ECS26a", "Read ESME Configuration Data Prepayment", _ESME, DLMS, False, "4.13"),
    _c(0x003C, "ECS26b", "Read ESME Configuration Voltage Data", _ESME, DLMS, False, "6.2.1"),
    _c(0x003D, "ECS26c", "Read ESME Configuration Data Device Information (randomisation)", _ESME, DLMS, False, "6.2.2"),
    _c(0x003E, "ECS26d", "Read ESME Configuration Data Device Information (Billing Calendar)", _ESME, DLMS, False, "6.2.3"),
    _c(0x003F, "ECS26e", "Read ESME Configuration Data Device Information (device identity exc MPAN)", _ESME, DLMS, False, "6.2.4"),
    _c(0x0040, "ECS26f", "Read ESME Configuration Data Device Information (instantaneous power thresholds)", _ESME, DLMS, False, "6.2.5"),
    _c(0x0042, "ECS27", "Read ESME Load Limit Data", _ESME, DLMS, False, "4.15"),
    _c(0x0043, "ECS28a", "Set Load Limit Configurations - General Settings", _ESME, DLMS, True, "6.4.1"),
    _c(0x0044, "ECS28b", "Set Load Limit Configuration Counter Reset", _ESME, DLMS, False, "6.4.2"),
    _c(0x0045, "ECS29a", "Set Voltage Configurations on ESME", _ESME, DLMS, False, "6.5"),
    _c(0x0046, "ECS30", "Set Billing Calendar on the ESME", _ESME, DLMS, True, "6.8"),
    _c(0x0047, "ECS34", "Set Instantaneous Power Threshold Configuration", _ESME, DLMS, False, "6.12"),
    _c(0x0048, "ECS35a", "Read ESME Event Log", _ESME, DLMS, False, "6.13"),
    _c(0x0049, "ECS35b", "Read ESME Security Log", _ESME, DLMS, False, "6.13"),
    _c(0x004A, "ECS37", "Set Maximum Demand Configurable Time Period", _ESME, DLMS, False, "6.18.1"),
    _c(0x004B, "ECS38", "Update Randomised Offset Limit", _ESME, DLMS, True, "7.12"),
    _c(0x004C, "ECS39a", "Set MPAN Value on the ESME", _ESME, DLMS, False, "6.20.1"),
    _c(0x004D, "ECS39b", "Set Export MPAN Value on the ESME", _ESME, DLMS, False, "6.20.2"),
    _c(0x004E, "ECS40", "Read MPAN Value on the ESME", _ESME, DLMS, False, "6.2.7"),
    _c(0x004F, "ECS42", "Remotely Close the Load Switch on the ESME", _ESME, DLMS, True, "7.1"),
    _c(0x0050, "ECS43", "Remotely Open the Load Switch on the ESME", _ESME, DLMS, True, "7.2"),
    _c(0x0051, "ECS44", "Arm Load Switch in ESME", _ESME, DLMS, True, "7.3"),
    _c(0x0052, "ECS45", "Read Status of Load Switch in the ESME", _ESME, DLMS, False, "7.4"),
    _c(0x0053, "ECS46a", "Set HC ALCS or ALCS Labels in ESME", _ESME, DLMS, True, "6.14.1"),
    _c(0x0054, "ECS46c", "Set HC ALCS and ALCS configuration in ESME (excluding labels)", _ESME, DLMS, True, "6.14.2"),
    _c(0x0055, "ECS47", "Set or Reset HC ALCS or ALCS State", _ESME, DLMS, True, "7.5", "7.6", "7.8"),
    _c(0x0058, "ECS50", "Send CIN to ESME", _ESME, DLMS, False, "9.1"),
    _c(0x0059, "ECS52", "Read ESME/Comms Hub Firmware Version", (ESME, CHF, SAPC), DLMS, False, "11.2"),
    _c(0x005A, "ECS57", "Reset ESME Maximum Demand Registers", _ESME, DLMS, False, "6.18.2"),
    _c(0x005E, "ECS61c", "Read Boost Button Data from ESME", _ESME, DLMS, False, "7.11"),
    _c(0x005F, "ECS62", "Set ALCS and Boost Button Association", _ESME, DLMS, False, "7.9", "7.10"),
    _c(0x0060, "ECS66", "Read ESME Daily Consumption Log", _ESME, DLMS, False, "4.17"),
    _a(0x0061, "ECS68", "ESME Critical Sensitive Alert (Billing Data Log)", _ESME, DLMS, True),
    _c(0x0062, "ECS70", "Set Clock on ESME", _ESME, DLMS, True, "6.11", "8.1.1"),
    _a(0x0067, "ECS80", "Supply Outage Restore Alert from ESME", _ESME, DLMS, True),
    _c(0x0068, "ECS81", "Set Supply Tamper State on ESME", _ESME, DLMS, True, "6.25"),
    _c(0x0069, "ECS82", "Read Meter Balance for ESME", _ESME, DLMS, False, "4.18"),
    _c(0x006B, "GCS01a", "Set Tariff and Price on GSME", _GSME, GBZ, True, "1.1.1"),
    _c(0x006C, "GCS02", "Set GSME Payment Mode to Credit", _GSME, GBZ, True, "1.6"),
    _c(0x006D, "GCS03", "Set GSME Payment Mode to Prepayment", _GSME, GBZ, True, "1.6"),
    _c(0x006E, "GCS04", "Manage Debt on the GSME", _GSME, GBZ, True, "2.3"),
    _c(0x006F, "GCS05", "Update Prepayment Configurations on GSME", _GSME, GBZ, True, "2.1"),
    _c(0x0070, "GCS06", "Activate Emergency Credit Remotely on GSME", _GSME, GBZ, True, "2.5"),
    _c(0x0071, "GCS07", "Send Message to GSME", _GSME, GBZ, False, "3.1"),
    _c(0x0072, "GCS09", "Set Change of Tenancy date on GPF", _GPF, GBZ, False, "3.2"),
    _c(0x0073, "GCS11", "Disable Privacy PIN Protection on GSME", _GSME, GBZ, False, "3.5"),
    _c(0x0074, "GCS13a", "Read GSME Consumption Register", _GAS, GBZ, False, "4.1.1"),
    _c(0x0075, "GCS14", "Read GSME Prepayment Registers", _GAS, GBZ, False, "4.3"),
    _c(0x0076, "GCS15c", "Read GSME Billing Data Log (billing calendar triggered)", _GSME, GBZ, False, "4.4.3"),
    _c(0x0077, "GCS16a", "Read GSME Daily Read Log", _GSME, GBZ, False, "4.6.1"),
    _c(0x0078, "GCS17", "Read GSME Profile Data Log", _GSME, GBZ, False, "4.8.1"),
    _c(0x0079, "GCS18", "Read Gas Network Data Log", _GSME, GBZ, False, "4.10"),
    _c(0x007B, "GCS21a", "Read Gas Configuration Data Device Information", _GSME, GBZ, False, "6.2.8"),
    _c(0x007C, "GCS23", "Set CV and Conversion Factor Value(s) on the GSME", _GSME, GBZ, True, "6.6"),
    _c(0x007D, "GCS24", "Set Uncontrolled Gas Flow Rate and Supply Tamper State on the GSME", _GSME, GBZ, True, "6.7"),
    _c(0x007E, "GCS25", "Set Billing Calendar on the GSME", _GSME, GBZ, True, "6.8"),
    _c(0x007F, "GCS28", "Set Clock on GSME", _GSME, ASN1, True, "6.11", "8.1.1"),
    _c(0x0080, "GCS31", "Start Network Data Log on GSME", _GSME, GBZ, False, "14.1"),
    _c(0x0081, "GCS32", "Remotely close the valve in the GSME", _GSME, GBZ, True, "7.2"),
    _c(0x0082, "GCS33", "Read GSME Valve Status", _GSME, GBZ, False, "7.4"),
    _c(0x0083, "GCS36", "Send CIN to GSME", _GSME, GBZ, False, "9.1"),
    _c(0x0084, "GCS38", "Read GSME Firmware Version", _GSME, GBZ, False, "11.2"),
    _c(0x0085, "GCS39", "Arm Valve in GSME", _GSME, GBZ, True, "7.3"),
    _c(0x0086, "GCS40a", "Adjust Prepayment Mode Meter Balance on the GSME", _GSME, GBZ, True, "1.5"),
    _c(0x0087, "GCS41", "Set MPRN Value on the GSME", _GSME, GBZ, False, "6.20.1"),
    _c(0x0088, "GCS44", "Write Contact Details on GSME", _GSME, GBZ, False, "3.4"),
    _c(0x0089, "GCS46", "Read MPRN on the GSME", _GSME, GBZ, False, "6.2.7"),
    _a(0x008B, "GCS53", "Push Billing Data Log as an Alert", _GSME, GBZ, True),
    _c(0x008C, "GCS59", "Restore GPF Device Log", _GPF, ASN1, False, "8.12.2"),
    _c(0x008D, "GCS60", "Read Meter Balance for GSME", _GSME, GBZ, False, "4.18"),
    _c(0x0090, "PCS02", "Activate Emergency Credit on GSME from PPMID", _GSME, GBZ, False),
    _c(0x0092, "ECS26i", "Read Configuration Data Device Information (CHF identity)", _CHF, DLMS, False, "6.2.4"),
    _c(0x0093, "ECS35c", "Read CHF Event Log", _CHF, DLMS, False, "6.13"),
    _c(0x0094, "ECS35d", "Read CHF Security Log", _CHF, DLMS, False, "6.13"),
    _c(0x0096, "GCS16b", "Read GSME Daily Read log(s) (prepayment)", _GAS, GBZ, False, "4.14"),
    _c(0x0097, "CS01b", "Apply Prepayment Top Up to a GSME", _GSME, GBZ, False, "2.2"),
    _c(0x009B, "PCS01", "Apply Prepayment Top Up to a GSME using PPMID", _GSME, GBZ, False),
    _c(0x009D, "GCS21d", "Read GSME Configuration Data Device Information (BillingCalendar)", _GSME, GBZ, False, "6.2.3"),
    _c(0x009E, "GCS21e", "Read GSME/GPF Configuration Data Device Information (device identity)", _GAS, GBZ, False, "6.2.4"),
    _c(0x009F, "GCS21f", "Read GSME Tariff Data", _GSME, GBZ, False, "4.11.1"),
    _c(0x00A0, "GCS61", "Read Gas Daily Consumption Log", _GPF, GBZ, False, "4.17"),
    _c(0x00A1, "CS10b", "Read ZigBee Device Security Log", (GSME, GPF), GBZ, False, "6.13"),
    _c(0x00A2, "ECS01b", "Set Price on ESME", _ESME, DLMS, True, "1.2.1"),
    _c(0x00A3, "GCS01b", "Set Price on GSME", _GSME, GBZ, True, "1.2.1"),
    _c(0x00AB, "CS03A2", "Method A Join (non Meter)", (PPMID, HCALCS), ASN1, True, "8.7.1", "8.7.2"),
    _c(0x00AC, "ECS25a", "Set Alert Behaviours - ESME - Supplier", _ESME, DLMS, False, "6.22"),
    _c(0x00AD, "GCS20", "Set Alert Behaviours - GSME", _GSME, GBZ, False, "6.22"),
    _c(0x00AE, "ECS29b", "Set Voltage Configurations on ESME - 3ph", _ESME, DLMS, False, "6.5"),
    _c(0x00AF, "CS03C", "Method C Join", (GSME, PPMID), ASN1, True, "8.7.1", "8.7.2"),
    _c(0x00B0, "ECS25b", "Set Alert Behaviours - ESME - Network Operator", _ESME, DLMS, False, "6.22"),
    _a(0x00B2, "GCS62", "Backup GPF Device Log", _GPF, ASN1, False),
    _c(0x00B3, "ECS04b", "Reset Meter Balance on the ESME", _ESME, DLMS, True, "1.5"),
    _c(0x00B4, "GCS40b", "Reset Prepayment Mode Meter Balance on the GSME", _GSME, GBZ, True, "1.5"),
    _c(0x00B5, "GCS21b", "Read GSME Configuration Data Prepayment", _GSME, GBZ, False, "4.13"),
    _c(0x00B6, "GCS13c", "Read GSME Register (TOU)", _GAS, GBZ, False, "4.1.2"),
    _c(0x00B7, "ECS01c", "Set Tariff and Price on ESME secondary", _ESME, DLMS, True, "1.1.2"),
    _c(0x00B8, "GCS13b", "Read GSME Block Counters", _GAS, GBZ, False, "4.1.4"),
    _c(0x00B9, "ECS35e", "Read ESME Power Event Log", _ESME, DLMS, False, "6.13"),
    _c(0x00BA, "ECS35f", "Read ALCS Event Log", _ESME, DLMS, False, "6.13"),
    _c(0x00BB, "ECS61a", "Read HC ALCS and ALCS Data from ESME", _ESME, DLMS, False, "7.7"),
    _c(0x00BC, "ECS23b", "Read Voltage Operational Data - 3 Phase", _ESME, DLMS, False, "4.10"),
    _c(0x00BD, "ECS24b", "Read ESME Tariff Data - second element", _ESME, DLMS, False, "4.11.2"),
    _c(0x00BE, "ECS26j", "Read ESME Configuration Data Device Information (Payment Mode)", _ESME, DLMS, False, "6.2.9"),
    _c(0x00BF, "GCS21j", "Read GSME Configuration Data Device Information (Payment Mode)", _GSME, GBZ, False, "6.2.9"),
    _c(0x00C0, "GCS40c", "Adjust Credit Mode Meter Balance on the GSME", _GSME, GBZ, True, "1.5"),
    _c(0x00C1, "ECS15c", "Clear ALCS Event Log", _ESME, DLMS, False, "3.3"),
    _c(0x00C2, "GCS40d", "Reset Credit Mode Meter Balance on the GSME", _GSME, GBZ, True, "1.5"),
    _c(0x00C3, "GCS15b", "Read GSME Billing Data Log (change of mode / tariff triggered)", _GSME, GBZ, False, "4.4.2"),
    _c(0x00C4, "GCS15d", "Read GSME Billing Data Log (payment-based debt payments)", _GSME, GBZ, False, "4.4.4"),
    _c(0x00C5, "GCS15e", "Read GSME Billing Data Log (prepayment credits)", _GSME, GBZ, False, "4.4.5"),
    _c(0x00C6, "ECS26k", "Read ESME Configuration Voltage Data - 3 phase", _ESME, DLMS, False, "6.2.1"),
    _c(0x00C7, "ECS01d", "Set Price on ESME secondary", _ESME, DLMS, True, "1.2.2"),
    _c(0x00C9, "ECS20d", "Read ESME Billing Data Log (prepayment credits)", _ESME, DLMS, False, "4.4.5"),
    _a(0x00CA, "", "Futured Dated Firmware Activation Alert", (ESME, GSME, CHF), ASN1, True),
    _a(0x00CB, "", "Futured Dated Update Security Credentials Alert", _SMKI, ASN1, True),
    _a(0x00CC, "", "Future Dated Execution Of Instruction Alert (DLMS COSEM)", _AUX, DLMS, True),
    _a(0x00CD, "", "Future Dated Execution Of Instruction Alert (GBZ)", _GSME, GBZ, True),
    _a(0x00CE, "", "Firmware Distribution Receipt Alert (ESME)", (ESME, CHF), DLMS, True),
    _a(0x00CF, "", "Firmware Distribution Receipt Alert (GSME)", _GSME, GBZ, True),
    _c(0x00D1, "ECS29c", "Set Voltage Configurations on ESME without counter reset", _ESME, DLMS, False, "6.5"),
    _c(0x00D2, "ECS29d", "Set Voltage Configurations on polyphase ESME without counter reset", _ESME, DLMS, False, "6.5"),
    _c(0x00D3, "ECS29e", "Reset RMS Voltage Counters on ESME", _ESME, DLMS, False, "6.27"),
    _c(0x00D4, "ECS29f", "Reset RMS Voltage Counters on polyphase ESME", _ESME, DLMS, False, "6.27"),
    _a(0x00D5, "", "Failure to Deliver Remote Party Message to ESME Alert", _CHF, DLMS, None),  # sent by the CHF, which relays to the ESME
    _c(0x00D7, "ECS30a", "Set Billing Calendar on the ESME - all periodicities", _ESME, DLMS, True, "6.8"),
    _c(0x00D8, "GCS25a", "Set Billing Calendar on the GSME - all periodicities", _GSME, GBZ, True, "6.8"),
    _c(0x00D9, "ECS26l", "Read ESME Configuration Data Device Information (Billing Calendar - all periodicities)", _ESME, DLMS, False, "6.2.3"),
    _c(0x00DA, "GCS21k", "Read GSME Configuration Data Device Information (BillingCalendar - all periodicities)", _GSME, GBZ, False, "6.2.3"),
    _c(0x00DB, "ECS48", "Configure daily resetting of Tariff Block Counter Matrix", _ESME, DLMS, True, "6.26"),
    _c(0x00DE, "ECS08a", "Update Prepayment Configuration on ESME", _ESME, DLMS, True, "2.1"),
    _c(0x00EA, "ECS25a1", "Set Event Behaviours - ESME to HAN Device - Supplier", _ESME, DLMS, False, "6.22"),
    _c(0x00EB, "ECS25a2", "Set Event Behaviours - ESME audible alarm - Supplier", _ESME, DLMS, False, "6.22"),
    _c(0x00EC, "ECS25a3", "Set Event Behaviours - ESME logging - Supplier", _ESME, DLMS, False, "6.22"),
    _c(0x00ED, "ECS25b3", "Set Event Behaviours - ESME logging - Network Operator", _ESME, DLMS, False, "6.22"),
    _c(0x00EE, "ECS25r1", "Read non-critical event and alert behaviours - ESME - Supplier", _ESME, DLMS, False, "6.2.10"),
    _c(0x00EF, "ECS25r2", "Read non-critical event and alert behaviours - ESME - Network Operator", _ESME, DLMS, False, "6.2.10"),
    _a(0x00F0, "", "Meter Integrity Issue Warning Alert - ESME", _ESME, DLMS, False),
    _c(0x00F1, "GCS20r", "Read non-critical event and alert behaviours - GSME - Supplier", _GSME, GBZ, False, "6.2.10"),
    _a(0x00F2, "", "Meter Integrity Issue Warning Alert - GSME", _GSME, GBZ, False),
    _c(0x00F9, "ECS26m", "Read ESME Configuration Data Device Information (identity, type and supply tamper state)", _ESME, DLMS, False, "6.2.4"),
    _c(0x00FA, "ECS26n", "Read CHF Configuration Data Device Information (CH identity and type)", _CHF, DLMS, False, "6.2.4"),
    _c(0x00FB, "GCS21m", "Read GSME Configuration Data Device Information (identity, type and supply tamper / depletion state)", _GSME, GBZ, False, "6.2.4"),
    _c(0x00FC, "GCS24a", "Set Uncontrolled Gas Flow Rate and Supply Tamper State on the GSME (SMETS4)", _GSME, GBZ, True, "6.7"),
    _c(0x00FD, "ECS35g", "Read ALCS Event Log", _ESME, DLMS, False, "6.13"),
    _c(0x00FE, "CCS07", "Read CHF Device Logs", _CHF, DLMS, False, "8.9"),
    _c(0x0100, "CS02b", "Update Security Credentials (rootBySupplier)", _SMKI, ASN1, True),
    _c(0x0101, "CS02b", "Update Security Credentials (rootByWanProvider)", _SMKI, ASN1, True),
    _c(0x0102, "CS02b", "Update Security Credentials (supplierBySupplier)", _SMKI, ASN1, True, "6.15.1", "6.21"),
    _c(0x0103, "CS02b", "Update Security Credentials (networkOperatorByNetworkOperator)", _SMKI, ASN1, True, "6.15.1", "6.21"),
    _c(0x0104, "CS02b", "Update Security Credentials (accessControlBrokerByACB)", _SMKI, ASN1, None, "8.5"),  # command MAC'd only, response signed
    _c(0x0105, "CS02b", "Update Security Credentials (wanProviderByWanProvider)", _SMKI, ASN1, True),
    _c(0x0106, "CS02b", "Update Security Credentials (transCoSByTransCoS)", _SMKI, ASN1, True),
    _c(0x0107, "CS02b", "Update Security Credentials (supplierByTransCoS)", _SMKI, ASN1, True, "6.23"),
    _c(0x0108, "CS02b", "Update Security Credentials (anyExceptAbnormalRootByRecovery)", _SMKI, ASN1, True),
    _c(0x0109, "CS02b", "Update Security Credentials (anyByContingency)", _SMKI, ASN1, True),
    _c(0x010A, "DBCH01", "Read CHF Sub GHz Channel", _CHF, DLMS, False, "6.31"),
    _c(0x010B, "DBCH02", "Read CHF Sub GHz Channel Log", _CHF, DLMS, False, "6.32"),
    _c(0x010C, "DBCH03", "Read CHF Sub GHz Configuration", _CHF, DLMS, False, "6.30"),
    _c(0x010D, "DBCH04", "Set CHF Sub GHz Configuration", _CHF, DLMS, False, "6.28"),
    _c(0x010E, "DBCH05", "Request CHF Sub GHz Channel Scan", _CHF, DLMS, False, "6.29"),
    _c(0x010F, "CCS06", "Read CHF device log and check HAN communications", _CHF, DLMS, False, "8.9"),
    _a(0x0110, "DBCH06", "Limited Duty Cycle Action Taken Sub GHz Alert", _CHF, DLMS, False),
    _a(0x0111, "DBCH07", "Sub GHz Sub GHz Channel Changed Sub GHz Alert", _CHF, DLMS, False),
    _a(0x0112, "DBCH08", "Sub GHz Channel Scan Request Assessment Outcome Sub GHz Alert", _CHF, DLMS, False),
    _a(0x0113, "DBCH09", "Sub GHz Configuration Changed Sub GHz Alert", _CHF, DLMS, False),
    _a(0x0114, "DBCH10", "Message Discarded Due to Duty Cycle Management Sub GHz Alert", _CHF, DLMS, False),
    _a(0x0115, "DBCH11", "No More Sub GHz Device Capacity Sub GHz Alert", _CHF, DLMS, False),
    _c(0x0116, "PECS01", "Apply Prepayment Top Up to an ESME using PPMID", _ESME, ZSE, None),
    _c(0x0117, "PECS02", "Activate Emergency Credit on ESME from PPMID", _ESME, ZSE, None),
    _c(0x0118, "PECS03", "Request to Enable ESME Supply from PPMID", _ESME, ZSE, None),
    _c(0x0119, "HECS01", "Request Control of a HAN Connected Auxiliary Load Control Switch from HCALCS", (HCALCS,), ZSE, None),
    _c(0x011A, "ECS46d", "Set Auxiliary Controller Calendar", _AUX, DLMS, True, "6.14.3"),
    _c(0x011B, "CS02f", "Provide Security Credential Details", _AUX, ASN1, None, "6.24.1"),
    _c(0x011C, "ECS61d", "Read Auxiliary Controller Configuration Data", _AUX, DLMS, False, "7.14"),  # code: the gap between CS02f and ECS61e
    _c(0x011D, "ECS61e", "Read Auxiliary Controller Operational Data", _AUX, DLMS, False, "7.15"),
    _c(0x011E, "ECS47a", "Set Auxiliary Controller [n] State", _AUX, DLMS, True, "7.13"),
    _c(0x011F, "ECS47e", "Limit APC [n] Level", _AUX, DLMS, True, "7.16"),
    _a(0x0120, "ECS100", "Command not supported by Device", _AUX, DLMS, True),
    _a(0x0121, "ECS101", "Limit APC [n] Level Command processed", _AUX, DLMS, True),
    _a(0x0122, "ECS102", "Limit APC [n] Level ended or cancelled", _AUX, DLMS, True),
    _a(0x0123, "ECS200", "Operational Update", _AUX, DLMS, True),
    _a(0x0124, "", "Future Dated Update Load Controller Security Credentials Alert", _AUX, ASN1, True),  # CS02g's 0x00CB; our name
    _c(0x0125, "CS02g", "Update Load Controller Security Credentials (loadControllerByLoadController)", _AUX, ASN1, True),
    _c(0x0126, "CS02g", "Update Load Controller Security Credentials (loadControllerBySupplier)", _AUX, ASN1, True, "6.15.1"),
    _a(0x0128, "CCS08", "Firmware Transfer Alert", _CHF, ASN1, True),
    _c(0x0129, "CS08", "Read PPMID/HCALCS Firmware Version", (PPMID, HCALCS), ASN1, False, "11.2"),
    _c(0x012A, "GCS60a", "Read Meter Balance for GSME (GSME or GPF)", _GAS, GBZ, False, "4.18"),  # our name
    _a(0x012B, "CS09", "PPMID Firmware Activation Alert", (PPMID,), ASN1, True),
    _a(0x1000, "", "Generic Critical Alert", _SMKI, BY_CONTENT, True),
    _a(0x1001, "", "Generic Non Critical Alert", _SMKI, BY_CONTENT, False),
)

USE_CASES: dict[int, UseCase] = {uc.code: uc for uc in _TABLE}

# The DCC's names, in RTDS folders and DUIS template names, for use-case variants that
# are not GBCS ids, with the message codes they use; and CCS05, which shares CCS04's code.
DCC_LABELS: dict[str, tuple[int, ...]] = {
    "CCS05": (0x0004,),
    "CCS05CCS04": (0x0004,),
    "CS02aMAC": (0x0008,),
    "CS02aSignature": (0x0008,),
    "CS02bACBByACB": (0x0104,),
    "CS02bAnyByContingency": (0x0109,),
    "CS02bAnyExceptAbnormalRootByRecovery": (0x0108,),
    "CS02bNOByNO": (0x0103,),
    "CS02bNOByNOHandover": (0x0103,),
    "CS02bSupplierBySupplier": (0x0102,),
    "CS02bSupplierBySupplierHandover": (0x0102,),
    "CS02bSupplierByTransCoS": (0x0107,),
    "CS02bTransCoSByTransCoS": (0x0106,),
    "CS02fMAC": (0x011B,),
    "CS02fSignature": (0x011B,),
    "CS02gLoadControllerByLoadController": (0x0125,),
    "CS02gLoadControllerBySupplier": (0x0126,),
    "CS03A2Critical": (0x00AB,),
    "CS03A2NonCritical": (0x00AB,),
    "CS03CCritical": (0x00AF,),
    "CS03CNonCritical": (0x00AF,),
    "CS04ACCritical": (0x000F,),
    "CS04ACNonCritical": (0x000F,),
    "ECS47Activate": (0x0055,),
    "ECS47Deactivate": (0x0055,),
    "ECS47Reset": (0x0055,),
    "ECS62Add": (0x005F,),
    "ECS62Remove": (0x005F,),
    "ECS70Commission": (0x0062,),
    "GCS28Commission": (0x007F,),
    "FDRA-DLMS": (0x00CE,),
    "FDRA-ZigBee": (0x00CF,),
    "GCA-DLMS": (0x1000,),
    "GCA-ZigBee": (0x1000,),
    "GNCA-DLMS": (0x1001,),
    "GNCA-ZigBee": (0x1001,),
    "MIIWA-DLMS": (0x00F0,),
    "MIIWA-ZigBee": (0x00F2,),
}


def _index() -> tuple[dict[str, tuple[UseCase, ...]], dict[str, tuple[UseCase, ...]]]:
    ids: dict[str, list[UseCase]] = {}
    srvs: dict[str, list[UseCase]] = {}
    for uc in _TABLE:
        ids.setdefault(uc.use_case, []).append(uc)
        for srv in uc.srvs:
            srvs.setdefault(srv, []).append(uc)
    for label, codes in DCC_LABELS.items():
        ids.setdefault(label, [USE_CASES[code] for code in codes])
    return ({k: tuple(v) for k, v in ids.items()}, {k: tuple(v) for k, v in srvs.items()})


_BY_ID, _BY_SRV = _index()


def _srv_key(srv: str) -> tuple[int, ...]:
    return tuple(int(part) for part in srv.split("."))


def by_code(code: int) -> UseCase | None:
    """The use case of a message code, or None for a code this catalogue does not know."""
    return USE_CASES.get(code)


def by_id(use_case: str) -> list[UseCase]:
    """The message codes of a GBCS use-case id (several for CS02b, CS02g) or of a DCC label
    ("CS02bNOByNO", "ECS47Activate", "GCA-DLMS"), in code order; [] when unknown."""
    return list(_BY_ID.get(use_case, ()))


def for_srv(srv: str) -> list[UseCase]:
    """The use cases a DUIS service reference variant (e.g. "4.1.1") triggers, by code."""
    return list(_BY_SRV.get(srv, ()))


def srvs_for(use_case: str) -> tuple[str, ...]:
    """The service reference variants that trigger any code of `use_case`, in SRV order."""
    found = {srv for uc in _BY_ID.get(use_case, ()) for srv in uc.srvs}
    return tuple(sorted(found, key=_srv_key))

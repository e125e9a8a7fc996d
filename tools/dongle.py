"""`smetslab dongle info PORT [--radio ezsp|znp|deconz|xbee|zigate]`: what a coordinator
stick is and whether it can be the lab's comms hub radio.

It connects with the radio library (without forming or changing a network), reads what
the stick says about itself (model, manufacturer, firmware; for EZSP the protocol
version, the stack build and whether SE certificates are provisioned) and prints that
with what the library can do (`han.radio.dongle.LIBRARIES`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import zigpy.exceptions

from han.radio.dongle import (
    CBKE_ON_STICK,
    CONNECT_TIMEOUT,
    LIBRARIES,
    DongleError,
    RadioSpec,
    make_application,
    parse_radio,
    zigpy_config,
)

FEATURES = ("install-code joining", "Smart Energy endpoints", "APS link keys per partner (CBKE)",
            "source routing", CBKE_ON_STICK)


async def probe(spec: RadioSpec) -> dict[str, Any]:
    """Connect, read, disconnect. DongleError when the stick does not answer."""
    app = make_application(spec, zigpy_config(spec, channel=11, pan_id=0x1A62,
                                              extended_pan_id=0, network_key=bytes(16),
                                              endpoints=[]))
    info: dict[str, Any] = {"radio": spec.radio, "library": spec.library.name,
                            "port": spec.path}
    try:
        await asyncio.wait_for(app.connect(), CONNECT_TIMEOUT)
    except (zigpy.exceptions.ZigbeeException, asyncio.TimeoutError, OSError,
            ValueError, RuntimeError) as exc:
        raise DongleError(f"{spec}: no stick answered ({type(exc).__name__}: {exc})") \
            from None
    try:
        try:
            await app.load_network_info(load_devices=False)
            network = app.state.network_info
            info["network"] = {"formed": True, "channel": int(network.channel or 0),
                               "pan_id": f"0x{int(network.pan_id):04X}",
                               "extended_pan_id": str(network.extended_pan_id),
                               "stack": network.stack_specific or None}
        except zigpy.exceptions.NetworkNotFormed:
            info["network"] = {"formed": False}
        node = app.state.node_info
        info.update(ieee=str(node.ieee), model=node.model, manufacturer=node.manufacturer,
                    firmware=node.version)
        if spec.library.ezsp:
            details = await _ezsp_details(app._ezsp)
            info.update(details)
            info["manufacturer"] = info["manufacturer"] or details.get("mfg_string")
            info["model"] = info["model"] or details.get("board")
            info["firmware"] = info["firmware"] or details.get("stack_version")
    finally:
        await app.disconnect()
    info["supports"] = {f: f in spec.library.supports for f in FEATURES}
    info["limits"] = dict(spec.library.limits)
    if spec.library.ezsp and info.get("se_certificates") is not None:
        info["supports"][CBKE_ON_STICK] = bool(info["se_certificates"])
    return info


async def _ezsp_details(ezsp: Any) -> dict[str, Any]:
    """EZSP protocol version, board and stack build, SE certificates on the stick."""
    details: dict[str, Any] = {"ezsp_version": ezsp.ezsp_version}
    try:
        manufacturer, board, version = await ezsp.get_board_info()
        details.update(board=board, mfg_string=manufacturer, stack_version=version)
    except (zigpy.exceptions.ZigbeeException, asyncio.TimeoutError, KeyError) as exc:
        details["stack_version"] = f"unknown ({exc})"
    certificates = []
    for command, suite in (("getCertificate", 1), ("getCertificate283k1", 2)):
        try:
            status, _ = await ezsp._command(command)
        except (zigpy.exceptions.ZigbeeException, asyncio.TimeoutError, KeyError,
                AttributeError, ValueError):
            continue
        if int(status) == 0:
            certificates.append(suite)
    details["se_certificates"] = [f"suite {s}" for s in certificates]
    return details


def render(info: dict[str, Any]) -> str:
    lines = [f"stick:       {info.get('manufacturer') or '?'} {info.get('model') or ''}".rstrip(),
             f"radio:       {info['radio']} via {info['library']} on {info['port']}",
             f"firmware:    {info.get('firmware') or info.get('stack_version') or '?'}",
             f"EUI-64:      {info.get('ieee')}"]
    if "ezsp_version" in info:
        lines.append(f"EZSP:        version {info['ezsp_version']}, stack "
                     f"{info.get('stack_version') or '?'}, board {info.get('board') or '?'}")
        certificates = info.get("se_certificates") or []
        lines.append("SE certs:    " + (", ".join(certificates) if certificates
                                        else "none provisioned (CBKE runs in software)"))
    network = info.get("network", {})
    lines.append("network:     " + (f"formed, channel {network['channel']}, PAN "
                                    f"{network['pan_id']}" if network.get("formed")
                                    else "none formed"))
    lines.append("supports:")
    for feature, ok in info["supports"].items():
        why = "" if ok else f" ({info['limits'].get(feature, 'no')})"
        lines.append(f"  {'yes' if ok else 'no '}  {feature}{why}")
    return "\n".join(lines)


def cmd_dongle(args: argparse.Namespace) -> int:
    try:
        spec = parse_radio(args.port, default_radio=args.radio)
        info = asyncio.run(probe(spec))
    except DongleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2, default=str) if args.json else render(info))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dongle", help="ZigBee coordinator sticks: what one is and can do")
    actions = p.add_subparsers(dest="action", required=True)
    info = actions.add_parser("info", help="report the stick, its firmware and what it "
                              "supports")
    info.add_argument("port", metavar="PORT", help="serial port or socket://HOST:PORT "
                      "(or RADIO:PORT)")
    info.add_argument("--radio", choices=sorted(LIBRARIES), default="ezsp",
                      help="radio library (default ezsp)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_dongle)

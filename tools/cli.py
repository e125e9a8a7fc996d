"""The `smetslab` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gbcs import keystore as keystores
from gbcs.build import mac_header, message_mac_key, sign_grouping_header
from gbcs.errors import GbcsCryptoError, GbcsDecodeError, GbcsEncodeError, GbcsError
from gbcs.message import DEFAULT_ACB, decode
from gbcs.node import Node, encode
from tools.inputs import InputError, read_inputs


def _eui(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.replace("-", "").replace(":", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an EUI-64: {text!r}") from None
    if len(raw) != 8:
        raise argparse.ArgumentTypeError(f"an EUI-64 has 8 bytes: {text!r}")
    return raw


def _keystore(path: str | None) -> keystores.Keystore | None:
    return keystores.load(path) if path else None


# -- decode ---------------------------------------------------------------------------------


def decode_result(data: bytes, store, acb: bytes) -> dict:
    """The JSON object `decode --json` prints for one input."""
    try:
        msg = decode(data, store, acb)
    except GbcsDecodeError as err:
        return {"ok": False, "error": err.as_json(), "roundtrip": False, "tree": None}
    out = {"ok": True, **msg.summary(), "roundtrip": msg.roundtrip(), "error": None,
           "tree": msg.tree.to_json()}
    return out


def cmd_decode(args: argparse.Namespace) -> int:
    from tools.render import print_message

    store = _keystore(args.keystore)
    failures = 0
    for label, data in read_inputs(args.inputs):
        if isinstance(data, InputError):
            failures += 1
            error = {"message": str(data), "offset": 0, "field": "input"}
            if args.json:
                print(json.dumps({"input": label, "ok": False, "error": error,
                                  "roundtrip": False, "tree": None}))
            else:
                print(f"{label}: error: {data}", file=sys.stderr)
            continue
        if args.json:
            result = {"input": label, **decode_result(data, store, args.acb)}
            failures += not result["ok"]
            print(json.dumps(result))
            continue
        try:
            msg = decode(data, store, args.acb)
        except GbcsDecodeError as err:
            failures += 1
            print(f"{label}: error: {err}", file=sys.stderr)
            continue
        print_message(label, msg)
    return 1 if failures else 0


# -- encode and sign ----------------------------------------------------------------------


def cmd_encode(args: argparse.Namespace) -> int:
    """Read `decode --json` lines (or a file of them) and print each message as hex."""
    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    failures = 0
    with source:
        for n, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                tree = obj["tree"] if "tree" in obj else obj
                print(encode(Node.from_json(tree)).hex().upper())
            except (ValueError, KeyError, TypeError, GbcsEncodeError) as exc:
                failures += 1
                print(f"line {n}: error: {exc}", file=sys.stderr)
    return 1 if failures else 0


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign a pre-command with the originator's DS key; with --mac also apply the
    ACB's MAC header for the recipient device."""
    try:
        store = keystores.load(args.keystore)
    except GbcsCryptoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failures = 0
    for label, data in read_inputs(args.inputs):
        try:
            if isinstance(data, InputError):
                raise data
            msg = decode(data, None, verify=False)
            h = msg.header
            if h.form != "general_signing" or h.signature_length_at != -1:
                raise GbcsEncodeError("not a pre-command (a General Signing APDU without "
                                      "signature)")
            signer = args.signer or h.originator
            keys = [p.private for p in store.keys(signer, keystores.DS) if p.private]
            if not keys:
                raise GbcsCryptoError(f"no DS private key for {signer.hex()} in key store")
            signed = sign_grouping_header(data, keys[0])
            if args.mac:
                acb_keys = store.private_keys(args.acb, keystores.KA)
                device_keys = store.public_keys(h.recipient, keystores.KA)
                if not acb_keys or not device_keys:
                    raise GbcsCryptoError("need the ACB's KA private key and the device's "
                                          "KA certificate for --mac")
                key = message_mac_key(acb_keys[0], device_keys[0], cra=h.cra,
                                      originator=h.originator,
                                      originator_counter=h.originator_counter,
                                      recipient=h.recipient)
                signed = mac_header(signed, key, h.originator)
            print(signed.hex().upper())
        except (GbcsError, InputError) as exc:
            failures += 1
            print(f"{label}: error: {exc}", file=sys.stderr)
    return 1 if failures else 0


# -- bench ----------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    if args.target == "codec":
        from tools.bench import codec as bench

        result = bench.run(Path(args.rtds) if args.rtds else None,
                           Path(args.keystore) if args.keystore else None, args.seconds)
    elif args.target == "esme":
        from tools.bench import esme as bench

        result = bench.run()
    elif args.target == "fleet":
        from tools.bench import fleet as bench

        if args.premises < 1 or args.requests < 1:
            print("bench fleet: --premises and --requests must be at least 1",
                  file=sys.stderr)
            return 2
        result = bench.run(args.premises, args.requests)
    else:
        from tools.bench import cbke as bench

        result = bench.run()
    print(json.dumps(result) if args.json else bench.report(result))
    return 0 if result["meets_goal"] else 1


# -- conformance --------------------------------------------------------------------------


def cmd_conformance(args: argparse.Namespace) -> int:
    from tools import conformance

    path = Path(args.path)
    keystore = Path(args.keystore) if args.keystore else path.parent / "keystore"
    try:
        results = conformance.run(path, keystore)
    except conformance.ConformanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for result in results:
        if args.json:
            print(json.dumps(result.to_json()))
        elif result.status != conformance.SKIPPED:
            print(f"{result.status.upper():7} {result.case}"
                  + (f": {result.reason}" if result.reason else ""))
            for d in result.differences:
                print(f"        {d.path}: expected {d.expected}, got {d.got}")
    skipped, last = conformance.summary(results)
    print(skipped)
    print(last)
    return 0 if all(r.status != conformance.FAILED for r in results) else 1


# -- lab ------------------------------------------------------------------------------------


def cmd_lab(args: argparse.Namespace) -> int:
    from tools.lab.run import LabError, LabOptions, parse_duration, run

    try:
        duration = parse_duration(args.duration) if args.duration else None
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run(LabOptions(
        premises=Path(args.premises) if args.premises else LabOptions.premises,
        duration=duration, speed=args.speed, quiet=args.quiet,
        pcap=Path(args.pcap) if args.pcap else None,
        keys_out=Path(args.keys_out) if args.keys_out else None,
        keys_out_dir=Path(args.keys_out_dir) if args.keys_out_dir else None,
        trace=Path(args.trace) if args.trace else None,
        state=Path(args.state) if args.state else None, demo=args.demo, seed=args.seed,
        keystore=Path(args.keystore) if args.keystore else None, radio=args.radio))


def cmd_debug(args: argparse.Namespace) -> int:
    from tools.debug import console

    premises = Path(args.premises) if args.premises else None
    state = Path(args.state) if args.state else None
    if args.script:
        return console.run_script(Path(args.script), premises, state, args.seed)
    return console.interactive(premises, state, args.seed)


def cmd_send(args: argparse.Namespace) -> int:
    import time

    from tools.debug import client

    fields = dict(f.partition("=")[::2] for f in args.fields)
    target = client.Target(args.user, args.device, args.counter or time.time_ns() // 1000)
    try:
        return client.send(args.url, args.srv, fields, target, keys=args.keys)
    except client.ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smetslab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("decode", help="decode GBCS messages into a tree of named fields")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="hex, base64, a file, or - for one message per line on stdin")
    p.add_argument("--keystore", help="key store folder (DCC Boxed layout) or ZAZ1 JSON")
    p.add_argument("--acb", type=_eui, default=DEFAULT_ACB, help="ACB EUI-64")
    p.add_argument("--json", action="store_true", help="one JSON object per input")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("encode", help="encode `decode --json` output back into hex")
    p.add_argument("input", nargs="?", default="-", help="file of JSON lines, or -")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("sign", help="sign pre-commands (and optionally apply the ACB MAC)")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--keystore", required=True)
    p.add_argument("--signer", type=_eui, help="signing remote party (default: originator)")
    p.add_argument("--mac", action="store_true", help="wrap in the ACB's MAC header")
    p.add_argument("--acb", type=_eui, default=DEFAULT_ACB)
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("bench", help="benchmarks, reported against a same-run baseline")
    p.add_argument("target", choices=["codec", "cbke", "esme", "fleet"])
    p.add_argument("--premises", type=int, default=1000, help="fleet: premises in memory")
    p.add_argument("--requests", type=int, default=2000, help="fleet: service requests")
    p.add_argument("--json", action="store_true")
    p.add_argument("--rtds", help="RTDS folder (default: ../shared beside the project)")
    p.add_argument("--keystore", help="RTDS key store folder")
    p.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("conformance", help="replay reference test data against emulated "
                       "devices and compare their responses")
    p.add_argument("suite", choices=["rtds"])
    p.add_argument("path", help="RTDS folder (or one use case's folder or command file)")
    p.add_argument("--keystore", help="RTDS key store folder (default: PATH/../keystore)")
    p.add_argument("--json", action="store_true", help="one JSON object per case")
    p.set_defaults(func=cmd_conformance)

    p = sub.add_parser("lab", help="run the embedded premises (CHF + GPF, ESME, GSME, PPMID, "
                       "IHD) over the virtual HAN, with the DCC")
    p.add_argument("--premises", help="premises file (default: the embedded default)")
    p.add_argument("--for", dest="duration", metavar="DURATION",
                   help="run this much virtual time (e.g. 2h, 7d) and exit; without it "
                   "run against the wall clock until Ctrl-C")
    p.add_argument("--speed", type=float, default=1.0, help="wall-clock speed-up (>= 1)")
    p.add_argument("--quiet", action="store_true", help="print only errors")
    p.add_argument("--pcap", metavar="FILE", help="write every HAN frame (802.15.4, "
                   "link type 195)")
    p.add_argument("--keys-out", metavar="FILE", help="write the network and link keys "
                   "as JSON for a sniffer")
    p.add_argument("--keys-out-dir", metavar="DIR", help="write every device and remote "
                   "party key (DCC Boxed layout) and roles.json")
    p.add_argument("--trace", metavar="FILE", help="write every GBCS message crossing the "
                   "WAN as JSON lines")
    p.add_argument("--state", metavar="DIR", help="keep the devices' stores and the DCC "
                   "here, to resume")
    p.add_argument("--demo", action="store_true", help="run a scripted tour and exit")
    p.add_argument("--seed", type=int, help="seed for keys and radio (default 0)")
    p.add_argument("--keystore", metavar="FILE", help="ZAZ1 key store JSON: use its remote "
                   "parties instead of a generated test PKI")
    p.add_argument("--radio", metavar="RADIO:PATH", help="put the comms hub on a coordinator "
                   "stick: ezsp|znp|deconz|xbee|zigate, then a serial port or "
                   "socket://HOST:PORT (e.g. ezsp:/dev/ttyUSB0)")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("debug", help="step through the premises in virtual time: "
                       "breakpoints, state, service requests, stimuli")
    p.add_argument("--script", metavar="FILE", help="run these commands (one a line) and "
                   "exit, non-zero at the first that fails")
    p.add_argument("--premises", metavar="FILE", help="premises file (default: embedded)")
    p.add_argument("--state", metavar="DIR", help="keep the devices' stores here, to resume")
    p.add_argument("--seed", type=int, default=0, help="the lab's seed (default 0)")
    p.set_defaults(func=cmd_debug)

    p = sub.add_parser("send", help="send a service request to a running lab's DCC API "
                       "as a DCC User and print the answer as a tree")
    p.add_argument("srv", metavar="SRV", help="service reference variant, e.g. 4.1.1")
    p.add_argument("fields", nargs="*", metavar="FIELD=VALUE")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the lab's DCC API")
    p.add_argument("--user", required=True, help="the DCC User's EUI (90-B3-...)")
    p.add_argument("--device", required=True, help="the target device's EUI")
    p.add_argument("--counter", type=int, help="request counter (default: from the time)")
    p.add_argument("--keys", metavar="DIR", help="the lab's key store (its --keys-out-dir; "
                   "default $SMETSLAB_KEYS): signs the request and critical pre-commands")
    p.set_defaults(func=cmd_send)

    from tools.fuzz import add_parser as add_fuzz

    add_fuzz(sub)
    __import__("tools.dongle", fromlist=["add_parser"]).add_parser(sub)
    __import__("tools.ncp", fromlist=["add_parser"]).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        return 1
    except GbcsCryptoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

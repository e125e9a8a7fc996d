"""The `fuzz` command: `fuzz codec [--seconds N] [--seed S] [--corpus DIR] [--json]`,
`fuzz device` and `fuzz han` (the same options; `--corpus` is the RTDS folder for
`device`, `han` has none) and `fuzz replay FILE...`, registered on the `smetslab` parser
by `add_parser`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.fuzz import report
from tools.fuzz.campaign import DEFAULT_FINDINGS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `fuzz` (with its `codec`, `device`, `han` and `replay` commands) to a CLI's
    subparsers."""
    parser = subparsers.add_parser("fuzz", help="fuzz the codec, the devices, the HAN; "
                                   "replay saved findings")
    sub = parser.add_subparsers(dest="fuzz_command", required=True)

    p = sub.add_parser("codec", help="mutated GBCS messages against the codec's invariants")
    p.add_argument("--seconds", type=_positive, default=60.0, help="campaign length")
    p.add_argument("--seed", type=int, default=0, help="same seed, same inputs")
    p.add_argument("--corpus", type=Path, help="seed messages folder (default: the RTDS)")
    p.add_argument("--findings", type=Path, default=DEFAULT_FINDINGS,
                   help=f"where reproducers are saved (default: ./{DEFAULT_FINDINGS})")
    p.add_argument("--atheris", action="store_true",
                   help="coverage-guided by atheris (must be installed)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_codec)

    p = sub.add_parser("device", help="malicious GBCS commands against the emulated "
                       "ESME, GSME, GPF and CHF")
    _common(p)
    p.add_argument("--corpus", type=Path, help="RTDS folder of seed commands "
                   "(default: the shared RTDS)")
    p.set_defaults(func=cmd_device)

    p = sub.add_parser("han", help="malformed 802.15.4/NWK/APS/ZCL frames and key "
                       "establishment abuse against joined HAN nodes")
    _common(p)
    p.set_defaults(func=cmd_han)

    p = sub.add_parser("replay", help="re-run saved reproducers")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replay)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    """The options every stateful campaign takes."""
    p.add_argument("--seconds", type=_positive, default=60.0, help="campaign length")
    p.add_argument("--seed", type=int, default=0, help="same seed, same inputs")
    p.add_argument("--findings", type=Path, default=DEFAULT_FINDINGS,
                   help=f"where reproducers are saved (default: ./{DEFAULT_FINDINGS})")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def cmd_codec(args: argparse.Namespace) -> int:
    """Exit status 1 when the campaign failed any input, 2 when it could not run."""
    if args.corpus is not None and not args.corpus.is_dir():
        print(f"error: no corpus folder {args.corpus}", file=sys.stderr)
        return 2
    if args.atheris:
        from tools.fuzz import guided

        try:
            result = guided.run("codec", args.seconds, args.seed, args.corpus, args.findings)
        except guided.GuidedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        from tools.fuzz.codec import run_codec
        from tools.fuzz.corpus import CorpusError

        try:
            result = run_codec(args.seconds, args.seed, args.corpus,
                               findings_dir=args.findings)
        except (CorpusError, OSError) as exc:  # the corpus or findings folder
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return _print(result, args.json)


def cmd_device(args: argparse.Namespace) -> int:
    """Exit status 1 when the campaign failed any input, 2 when it could not run."""
    from tools.fuzz.device import DeviceFuzzError, run_device

    if args.corpus is not None and not args.corpus.is_dir():
        print(f"error: no RTDS folder {args.corpus}", file=sys.stderr)
        return 2
    try:
        result = run_device(args.seconds, args.seed, args.corpus, findings_dir=args.findings)
    except (DeviceFuzzError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _print(result, args.json)


def cmd_han(args: argparse.Namespace) -> int:
    """Exit status 1 when the campaign failed any input, 2 when it could not run."""
    from tools.fuzz.han import run_han

    try:
        result = run_han(args.seconds, args.seed, findings_dir=args.findings)
    except OSError as exc:  # the findings folder
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _print(result, args.json)


def _print(result: dict, as_json: bool) -> int:
    print(json.dumps(result) if as_json else report.text(result))
    return 1 if result["crashes"] or result["invariant_violations"] else 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Exit status 1 when a finding still reproduces, 0 when none does, 2 for a file
    that cannot be replayed."""
    from tools.fuzz.rerun import replay

    status = 0
    for path in args.files:
        try:
            finding = replay(path)
        except (report.FindingFileError, LookupError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        if finding is not None:
            status = max(status, 1)
        if args.json:
            print(json.dumps({"file": str(path), "reproduces": finding is not None,
                              "finding": finding.to_json() if finding else None}))
        elif finding is None:
            print(f"{path}: passes now (fixed)")
        else:
            print(f"{path}: reproduces: {finding.kind}: {finding.summary}")
            if finding.traceback:
                print(finding.traceback.rstrip())
    return status

"""`smetslab ncp serve`: an emulated EZSP coordinator stick (`han.ncp`) for zigpy hosts.

    smetslab ncp serve --protocol ezsp --listen 127.0.0.1:PORT [--medium udp]
    smetslab ncp serve --protocol ezsp --pty

A host connects with bellows' `socket://127.0.0.1:PORT` or opens the printed pty path. The
stick's radio is on a medium of its own, or with `--medium udp` on the loopback UDP medium
(UDP port = the TCP port) that the lab's emulated devices in other processes join. Runs
until Ctrl-C. The network the host formed lasts as long as the process, or across runs with
`--state FILE` (the stick's NVM as JSON, read at start, written when it stops).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boards.simulator import Simulator
from han.ncp import NcpServer
from han.ncp.server import DEFAULT_EUI64


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}")
    return host, int(port)


def _eui64(text: str) -> int:
    digits = text.replace(":", "").replace("-", "")
    if len(digits) != 16:
        raise argparse.ArgumentTypeError(f"an EUI-64 has 16 hex digits: {text!r}")
    try:
        return int(digits, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an EUI-64: {text!r}") from None


def _load_state(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    state = json.loads(path.read_text())
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a stick state (a JSON object)")
    return state


def _save_state(path: Path, state: dict[str, Any]) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(state, sort_keys=True))
    os.replace(temporary, path)


async def serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    try:
        nvm = _load_state(args.state)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sim = Simulator(datetime.now(UTC), keep_trace=False)
    server = NcpServer(sim, eui64=args.eui64, nvm=nvm)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        if args.pty:
            print(f"ncp: EZSP v13 stick {args.eui64:016X} on {server.open_pty()}", flush=True)
        else:
            host, port = await server.listen(*args.listen)
            print(f"ncp: EZSP v13 stick {args.eui64:016X} listening on "
                  f"socket://{host}:{port}", flush=True)
            if args.medium == "udp":
                server.use_udp_medium(port)
                print(f"ncp: radio on the loopback UDP medium, port {port}", flush=True)
        await stop.wait()
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        await server.close()
        if args.state is not None:
            _save_state(args.state, nvm)
    print("ncp: stopped", flush=True)
    return 0


def cmd_ncp(args: argparse.Namespace) -> int:
    if args.pty and args.medium == "udp":
        print("error: --medium udp takes its port from --listen", file=sys.stderr)
        return 2
    if not args.pty and args.listen is None:
        print("error: give --listen HOST:PORT or --pty", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ncp", help="an emulated ZigBee coordinator stick (EZSP NCP) for "
                       "zigpy hosts such as bellows")
    actions = p.add_subparsers(dest="action", required=True)
    serve_p = actions.add_parser("serve", help="serve the stick until Ctrl-C")
    serve_p.add_argument("--protocol", choices=["ezsp"], default="ezsp")
    where = serve_p.add_mutually_exclusive_group()
    where.add_argument("--listen", type=_address, metavar="HOST:PORT",
                       help="TCP (bellows path socket://HOST:PORT)")
    where.add_argument("--pty", action="store_true", help="a pseudo-terminal (path printed)")
    serve_p.add_argument("--medium", choices=["private", "udp"], default="private",
                         help="udp: the loopback UDP medium other processes' radios use")
    serve_p.add_argument("--eui64", type=_eui64, default=DEFAULT_EUI64,
                         help="the stick's EUI-64 (16 hex digits)")
    serve_p.add_argument("--state", type=Path, metavar="FILE",
                         help="keep the stick's NVM (network, keys, joined devices) here")
    serve_p.add_argument("-v", "--verbose", action="store_true", help="log every frame")
    serve_p.set_defaults(func=cmd_ncp)

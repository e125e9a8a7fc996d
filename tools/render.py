"""The decoded tree as a lab engineer reads it: one line per field with its byte
offset, name and value; coloured with rich on a terminal."""

from __future__ import annotations

import sys

from gbcs.message import DecodedMessage
from gbcs.node import Node, display_value, render_lines

_STATUS_STYLE = {"valid": "green", "invalid": "bold red", "absent": "dim",
                 "unverified": "yellow"}


def tree_lines(tree: Node) -> list[tuple[int, Node, str]]:
    return [(depth, node, display_value(node)) for depth, node in render_lines(tree)]


def plain_text(label: str, msg: DecodedMessage) -> str:
    s = msg.summary()
    out = [f"{label}: {s['use_case'] or '?'} {s['use_case_name'] or ''} "
           f"[{s['message_code']} {s['cra']}] {s['originator']} -> {s['recipient']} "
           f"counter {s['originator_counter']} signature {s['signature']} mac {s['mac']}"]
    for depth, node, value in tree_lines(msg.tree):
        where = f"{node.offset:5d}" if node.offset >= 0 else "    -"
        out.append(f"{where}  {'  ' * depth}{node.name}" + (f": {value}" if value else ""))
    return "\n".join(out)


def print_message(label: str, msg: DecodedMessage) -> None:
    if not sys.stdout.isatty():
        print(plain_text(label, msg))
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    s = msg.summary()
    console.print(
        f"[bold]{escape(label)}[/]: [cyan]{s['use_case'] or '?'}[/] "
        f"{escape(s['use_case_name'] or '')} [{s['message_code']} {s['cra']}] "
        f"{s['originator']} → {s['recipient']} counter {s['originator_counter']} "
        f"signature [{_STATUS_STYLE[s['signature']]}]{s['signature']}[/] "
        f"mac [{_STATUS_STYLE[s['mac']]}]{s['mac']}[/]")
    for depth, node, value in tree_lines(msg.tree):
        where = f"{node.offset:5d}" if node.offset >= 0 else "    -"
        line = f"[dim]{where}[/]  {'  ' * depth}[bold]{escape(node.name)}[/]"
        if value:
            line += f": [green]{escape(value)}[/]"
        console.print(line)

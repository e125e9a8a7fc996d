"""`smetslab send SRV [field=value ...]`: a DCC User client of a running lab's HTTP API
(`tools.headend.http`): POST the request to /api/v1/serviceS in the JSON form of DUIS,
poll /api/v1/responses/<user> for the device's answer and print both as trees.

Bodies: `4.1.1`, `8.9` and `2.2 UTRN=...` have their body element built in; any other
SRV takes `body=ElementName` and its `field=value` pairs become the body's children.
Critical requests (the pre-command signed with the User's key) are not sent from here.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass

POLL_EVERY_S = 0.2
BODIES = {"4.1.1": "ReadInstantaneousImportRegisters", "8.9": "ReadDeviceLog",
          "2.2": "TopUpDevice"}


class ClientError(Exception):
    """A request the client cannot make or an answer it cannot read: says which."""


@dataclass(frozen=True)
class Target:
    """Who sends (the User's EUI), to which device, with which request counter."""

    user: str
    device: str
    counter: int


def request_json(srv: str, fields: dict[str, str], target: Target) -> dict:
    """The DUIS request (JSON form) for `srv` with `fields`."""
    fields = dict(fields)
    body_name = fields.pop("body", None) or BODIES.get(srv)
    if body_name is None:
        raise ClientError(f"send {srv}: give body=ElementName (built in: {', '.join(BODIES)})")
    body: dict | str = {k: v for k, v in fields.items()} or ""
    service_reference = srv.rsplit(".", 1)[0] if srv.count(".") == 2 else srv
    return {"Request": {"@schemaVersion": "5.4", "Header": {
        "RequestID": f"{target.user}:{target.device}:{target.counter}",
        "CommandVariant": "1", "ServiceReference": service_reference,
        "ServiceReferenceVariant": srv}, "Body": {body_name: body}}}


def tree(xml_text: str) -> list[str]:
    """A DUIS XML document as an indented tree of local names and texts."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ClientError(f"the answer is not XML: {exc}") from None
    lines: list[str] = []

    def walk(el: ET.Element, depth: int) -> None:
        name = el.tag.rsplit("}", 1)[-1]
        text = (el.text or "").strip()
        lines.append(f"{'  ' * depth}{name}{': ' + text if text else ''}")
        for child in el:
            walk(child, depth + 1)

    walk(root, 0)
    return lines


def _http(url: str, data: bytes | None = None, *,
          content_type: str = "application/json") -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type,
                                                          "Accept": "application/xml"})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ClientError(f"{url}: {exc}") from None


def send(url: str, srv: str, fields: dict[str, str], target: Target,
         wait_s: float = 30.0) -> int:
    """Send and print the acknowledgement and the response; the exit status (0 when the
    DCC accepted the request and the device answered)."""
    body = json.dumps(request_json(srv, fields, target)).encode()
    status, text = _http(f"{url.rstrip('/')}/api/v1/serviceS", body)
    if status >= 400 and not text.lstrip().startswith("<"):
        print(f"error: HTTP {status}: {text}")
        return 1
    print("\n".join(tree(text)))
    if status >= 400:
        return 1
    rid = f"{target.user}:{target.device}:{target.counter}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status, text = _http(f"{url.rstrip('/')}/api/v1/responses/{target.user}")
        if status == 200 and rid in text:
            print("\n".join(tree(text)))
            return 0
        if status not in (200, 204):
            print(f"error: polling: HTTP {status}: {text}")
            return 1
        time.sleep(POLL_EVERY_S)
    print(f"error: no response to {rid} within {wait_s:g} s")
    return 1

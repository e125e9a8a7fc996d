"""`smetslab send SRV [field=value ...]`: a DCC User client of a running lab's HTTP API
(`tools.headend.http`). The request goes as DUIS XML signed (XML-DSig) with the User's
key from the lab's key store; a critical one goes first to /api/v1/serviceT, its
pre-command comes back, is signed with the same key (GBCS signature) and returns to
/api/v1/serviceS; then /api/v1/responses/<user> is polled for the device's answer. The
acknowledgement and the response print as trees, the response's GBCS decoded too.

Bodies: `4.1.1`, `8.9` and `2.2 UTRN=...` have their body element built in; any other
SRV takes `body=ElementName`, and its `field=value` pairs become the body's children
(`Parent/Child=value` nests). The key store is a folder in the DCC Boxed layout (what
`smetslab lab --keys-out-dir` writes) or a ZAZ1 JSON key store (`lab --keystore`); it
comes from `keys`, else $SMETSLAB_KEYS.
"""

from __future__ import annotations

import base64
import os
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from gbcs import crypto
from gbcs import keystore as keystores
from gbcs.build import sign_grouping_header
from gbcs.errors import GbcsError
from gbcs.message import decode
from gbcs.node import display_value, render_lines
from tools.headend import duis, xmldsig
from tools.headend.access import RequestMatrix

POLL_EVERY_S = 0.2
KEYS_ENV = "SMETSLAB_KEYS"
BODIES = {"4.1.1": "ReadInstantaneousImportRegisters", "8.9": "ReadDeviceLog",
          "2.2": "TopUpDevice"}
NON_CRITICAL_CV, TRANSFORM_CV, SIGNED_CV = 1, 4, 5


class ClientError(Exception):
    """A request the client cannot make or an answer it cannot read: says which."""


@dataclass(frozen=True)
class Target:
    """Who sends (the User's EUI), to which device, with which request counter."""

    user: str
    device: str
    counter: int


def _service_reference(srv: str) -> str:
    return srv.rsplit(".", 1)[0] if srv.count(".") == 2 else srv


def _body(srv: str, fields: dict[str, str]) -> tuple[str, dict]:
    fields = dict(fields)
    body_name = fields.pop("body", None) or BODIES.get(srv)
    if body_name is None:
        raise ClientError(f"send {srv}: give body=ElementName (built in: {', '.join(BODIES)})")
    return body_name, fields


def request_json(srv: str, fields: dict[str, str], target: Target,
                 command_variant: int = NON_CRITICAL_CV) -> dict:
    """The DUIS request (JSON form) for `srv` with `fields`."""
    body_name, fields = _body(srv, fields)
    body: dict | str = {}
    for path, value in fields.items():
        node = body
        *parents, leaf = path.split("/")
        for name in parents:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ClientError(f"send {srv}: {path}: {name} has a value and children")
        node[leaf] = value
    return {"Request": {"@schemaVersion": duis.SCHEMA_VERSION, "Header": {
        "RequestID": f"{target.user}:{target.device}:{target.counter}",
        "CommandVariant": str(command_variant), "ServiceReference": _service_reference(srv),
        "ServiceReferenceVariant": srv}, "Body": {body_name: body or ""}}}


def request_xml(srv: str, fields: dict[str, str], target: Target,
                command_variant: int = NON_CRITICAL_CV) -> bytes:
    """The DUIS request as XML (unsigned)."""
    root = duis.json_to_xml(request_json(srv, fields, target, command_variant))
    ET.register_namespace("sr", duis.SR)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def signed_pre_command_xml(signed: bytes, srv: str, target: Target) -> bytes:
    """The request that returns a signed pre-command (command variant 5), unsigned."""
    root = duis.json_to_xml({"Request": {"@schemaVersion": duis.SCHEMA_VERSION, "Header": {
        "RequestID": f"{target.user}:{target.device}:{target.counter}",
        "CommandVariant": str(SIGNED_CV), "ServiceReference": _service_reference(srv),
        "ServiceReferenceVariant": srv}, "Body": {"SignedPreCommand": {
            "GBCSPayload": base64.b64encode(signed).decode()}}}})
    ET.register_namespace("sr", duis.SR)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


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


def gbcs_tree(xml_text: str, keys: keystores.Keystore | None = None) -> list[str]:
    """The GBCS a Service Response carries, decoded (and verified with `keys` when they
    hold the sending device's) as a tree; nothing when it carries none."""
    root = ET.fromstring(xml_text)
    payload = next((el.text for el in root.iter() if el.tag.endswith("}GBCSPayload")), None)
    if not payload:
        return []
    try:
        data = base64.b64decode(payload)
        originator = decode(data, verify=False).header.originator
        known = keys is not None and keys.public_keys(originator, keystores.KA)
        msg = decode(data, keys if known else None)
    except (GbcsError, ValueError) as exc:
        return [f"GBCS: not decodable: {exc}"]
    s = msg.summary()
    lines = [f"GBCS: {s['use_case'] or '?'} {s['use_case_name'] or ''} signature "
             f"{s['signature']} mac {s['mac']}"]
    lines += [f"  {'  ' * depth}{node.name}" + (f": {value}" if (value := display_value(node))
                                                  else "")
              for depth, node in render_lines(msg.tree)]
    return lines


def load_keys(path: str | Path | None) -> keystores.Keystore:
    """The lab's key store: `path`, else $SMETSLAB_KEYS."""
    where = path or os.environ.get(KEYS_ENV)
    if not where:
        raise ClientError(f"no key store to sign with: give the lab's --keys-out-dir folder "
                          f"or ZAZ1 key store (set ${KEYS_ENV})")
    try:
        return keystores.load(where)
    except (GbcsError, OSError, ValueError) as exc:
        raise ClientError(f"key store {where}: {exc}") from None


# Key store entries for DUIS XML signing only (DCC Boxed's `xml-sign-<EUI>-ds`): the
# lab's DCC knows a User by the GBCS signing key its devices trust, so that one signs.
_XML_ONLY = "xml-sign"


def signing_key(keys: keystores.Keystore, user: str) -> crypto.PrivateKey:
    """The User's GBCS signing (DS) private key: it signs pre-commands and, as the lab's
    DCC knows the User by it, the XML requests too."""
    try:
        eui = duis.eui(user)
    except ValueError:
        raise ClientError(f"--user {user!r} is not an EUI-64") from None
    found = [pair.private for pair in keys.keys(eui, keystores.DS)
             if pair.private is not None and not pair.name.startswith(_XML_ONLY)]
    if not found:
        raise ClientError(f"the key store has no signing (DS) private key for {user}")
    return found[0]


def _http(url: str, data: bytes | None = None, *,
          content_type: str = "application/xml") -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type,
                                                          "Accept": "application/xml"})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ClientError(f"{url}: {exc}") from None


def _post(url: str, path: str, body: bytes, key: crypto.PrivateKey, user: str
          ) -> tuple[int, str]:
    """POST `body` signed by the User; print the answer. (status, text)."""
    status, text = _http(f"{url.rstrip('/')}{path}", xmldsig.sign(body, key, key_name=user))
    if status >= 400 and not text.lstrip().startswith("<"):
        raise ClientError(f"HTTP {status}: {text}")
    print("\n".join(tree(text)))
    return status, text


def _critical(srv: str) -> bool:
    matrix = RequestMatrix.load()
    entry = matrix.get(srv)
    if entry is None:
        raise ClientError(f"{srv} is not a DUIS service reference variant")
    return entry.critical


def send(url: str, srv: str, fields: dict[str, str], target: Target, wait_s: float = 30.0,
         *, keys: str | Path | keystores.Keystore | None = None) -> int:
    """Send and print the acknowledgement and the response; the exit status (0 when the
    DCC accepted the request and the device answered)."""
    store = keys if isinstance(keys, keystores.Keystore) else load_keys(keys)
    key = signing_key(store, target.user)
    if _critical(srv):
        status, text = _post(url, "/api/v1/serviceT",
                             request_xml(srv, fields, target, TRANSFORM_CV), key, target.user)
        if status >= 400:
            return 1
        found = ET.fromstring(text).find(f"{{{duis.SR}}}Body/{{{duis.SR}}}ResponseMessage/"
                                         f"{{{duis.SR}}}PreCommand/{{{duis.SR}}}GBCSPayload")
        if found is None or not found.text:
            raise ClientError("the DCC returned no pre-command to sign")
        signed = sign_grouping_header(base64.b64decode(found.text), key)
        status, text = _post(url, "/api/v1/serviceS",
                             signed_pre_command_xml(signed, srv, target), key, target.user)
    else:
        status, text = _post(url, "/api/v1/serviceS", request_xml(srv, fields, target), key,
                             target.user)
    if status >= 400:
        return 1
    rid = f"{target.user}:{target.device}:{target.counter}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status, text = _http(f"{url.rstrip('/')}/api/v1/responses/{target.user}")
        if status == 200 and rid in text:
            print("\n".join(tree(text) + gbcs_tree(text, store)))
            return 0
        if status not in (200, 204):
            print(f"error: polling: HTTP {status}: {text}")
            return 1
        time.sleep(POLL_EVERY_S)
    print(f"error: no response to {rid} within {wait_s:g} s")
    return 1

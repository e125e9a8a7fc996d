"""DUIS 5.4 service requests in (XML or JSON), Service Responses out.

A DCC User sends a Service Request: a header naming the request (RequestID =
user EUI : target device EUI : counter), the service reference variant (SRV) and the
command variant (CV), and a body holding one element named for the service. The JSON
form is the XML element tree as nested objects, namespace prefixes dropped:
``{"Request": {"@schemaVersion": "5.4", "Header": {...}, "Body": {"TopUpDevice":
{"UTRN": "..."}}}}``; an element repeated under one parent becomes a list, attributes
are ``"@name"`` keys and the text of an element with attributes is ``"#text"``.

Requests are checked against the DUIS XML schema when it can be found (from
$SMETSLAB_DUIS_SCHEMA, $SMETSLAB_SHARED or ../shared beside the repository); the schema
is read where it lies, never copied. Without it only the structure the head end relies
on is checked, and `schema_checked()` says so.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

SR = "http://www.dccinterface.co.uk/ServiceUserGateway"
RA = "http://www.dccinterface.co.uk/ResponseAndAlert"
DS = "http://www.w3.org/2000/09/xmldsig#"
SCHEMA_VERSION = "5.4"
SCHEMA_ENV = "SMETSLAB_DUIS_SCHEMA"
_DUIS_XSD, _MMC_XSD, _DSIG_XSD = "duis-schema-v5.4.xsd", "mmc-schema-v5.4.xsd", \
    "xmldsig-core-schema.xsd"

# DUIS response codes the head end gives (DUIS "DCC Systems Response Codes").
I0 = "I0"      # success
I99 = "I99"    # acknowledgement: accepted, passed access control, sent to the device
E1 = "E1"      # invalid User / User Role combination
E2 = "E2"      # User Role not permitted to send the SRV
E4 = "E4"      # User Role not authorised for the device (not registered for the MPxN)
E5 = "E5"      # device SMI status incompatible with the SRV
E11 = "E11"    # SRV not compatible with the device (type, or no transform for it)
E12 = "E12"    # command variant not applicable to the request
E13 = "E13"    # request type not valid for the channel (e.g. non-device to transform)
E19 = "E19"    # device does not exist
E20 = "E20"    # unable to communicate with the device
E21 = "E21"    # no response received from the device
# A request that is not well-formed or fails schema validation gets no Service
# Response: DUIS answers it at the HTTP layer with 400 Bad Request.
HTTP_BAD_REQUEST = 400

_EUI = r"[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}"
_REQUEST_ID = re.compile(rf"^({_EUI}):({_EUI}):(0|[1-9][0-9]{{0,19}})$")
_SRV = re.compile(r"^[0-9]{1,2}(?:\.[0-9]{1,2}){1,2}$")


class DuisError(Exception):
    """A request the DCC refuses: the DUIS response code (None for a malformed or
    schema-invalid request, which DUIS answers with HTTP 400), what is wrong, and where
    (an element path such as ``Request/Header/RequestID``)."""

    def __init__(self, code: str | None, message: str, path: str = "") -> None:
        super().__init__(code, message, path)
        self.code = code
        self.message = message
        self.path = path

    @property
    def http_status(self) -> int:
        return HTTP_BAD_REQUEST if self.code is None else 200

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.code or 'HTTP 400'}: {self.message}{where}"


@dataclass(frozen=True, slots=True)
class RequestId:
    """DUIS RequestID: originator (the DCC User's EUI), target (the device's EUI) and
    the User's counter."""

    originator: bytes
    target: bytes
    counter: int

    @classmethod
    def parse(cls, text: str, path: str = "RequestID") -> RequestId:
        m = _REQUEST_ID.match(text.strip())
        if not m or int(m.group(3)) >= 1 << 64:
            raise DuisError(None, f"bad RequestID {text!r} (EUI:EUI:counter)", path)
        return cls(eui(m.group(1)), eui(m.group(2)), int(m.group(3)))

    def __str__(self) -> str:
        return f"{eui_text(self.originator)}:{eui_text(self.target)}:{self.counter}"


def eui(text: str) -> bytes:
    """An EUI-64 from DUIS text (``00-DB-12-...``)."""
    return bytes.fromhex(text.replace("-", ""))


def eui_text(raw: bytes) -> str:
    return "-".join(f"{b:02X}" for b in raw)


@dataclass(frozen=True, slots=True)
class Element:
    """One element of a request body: its local name, text, attributes, children."""

    name: str
    text: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    children: tuple[Element, ...] = ()

    def find(self, path: str) -> Element | None:
        """The first descendant along a ``/``-separated path of local names."""
        node: Element | None = self
        for part in path.split("/"):
            node = next((c for c in node.children if c.name == part), None)
            if node is None:
                return None
        return node

    def find_all(self, name: str) -> list[Element]:
        return [c for c in self.children if c.name == name]

    def value(self, path: str, default: str | None = None) -> str | None:
        found = self.find(path)
        return found.text if found is not None else default

    def attribute(self, name: str) -> str | None:
        return dict(self.attributes).get(name)


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A parsed DUIS Service Request."""

    request_id: RequestId
    command_variant: int
    service_reference: str
    srv: str
    body: Element
    execution_datetime: _dt.datetime | None = None
    first_in_sequence: bool | None = None
    preceding_request_id: RequestId | None = None
    schema_version: str = SCHEMA_VERSION
    schema_checked: bool = field(default=False, compare=False)

    @property
    def service(self) -> str:
        """The body element's name, e.g. ``TopUpDevice``."""
        return self.body.name


# -- locating and loading the schema ----------------------------------------------------


def schema_dir() -> Path | None:
    """Where the DUIS schema is: $SMETSLAB_DUIS_SCHEMA when set, else
    $SMETSLAB_SHARED/reference/duis-schema or ../shared/reference/duis-schema beside the
    repository; None if the schema files are not there."""
    if os.environ.get(SCHEMA_ENV):
        path = Path(os.environ[SCHEMA_ENV])
    else:
        root = Path(__file__).resolve().parents[2]
        shared = Path(os.environ.get("SMETSLAB_SHARED", root.parent / "shared"))
        path = shared / "reference" / "duis-schema"
    if (path / _DUIS_XSD).is_file() and (path / _MMC_XSD).is_file():
        return path
    return None


@lru_cache(maxsize=4)
def _load_schema(path: Path) -> Any:
    import xmlschema  # only needed when a schema is there to check against

    locations = [(RA, str(path / _MMC_XSD)), (DS, str(path / _DSIG_XSD))]
    return xmlschema.XMLSchema(str(path / _DUIS_XSD), locations=locations)


def schema() -> Any | None:
    """The compiled DUIS schema (xmlschema.XMLSchema), or None when not found."""
    path = schema_dir()
    return _load_schema(path) if path else None


def schema_checked() -> bool:
    """True when requests and responses are validated against the DUIS schema;
    False means structural checks only."""
    return schema_dir() is not None


def validate(root: ET.Element) -> bool:
    """Validate an element tree against the schema; raise DuisError (HTTP 400) with the
    failing element's path. Returns False when no schema is available."""
    xsd = schema()
    if xsd is None:
        return False
    for err in xsd.iter_errors(root):
        raise DuisError(None, f"schema: {err.reason}", _local_path(err.path or ""))
    return True


def _local_path(path: str) -> str:
    return re.sub(r"\{[^}]*\}|\w+:", "", path).lstrip("/")


# -- requests -------------------------------------------------------------------------------


def parse_xml(data: str | bytes) -> ServiceRequest:
    """A Service Request from DUIS XML; DuisError when malformed or invalid."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise DuisError(None, "DTDs and entities are not allowed in DUIS XML", "")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise DuisError(None, f"not well-formed XML: {exc}", "") from None
    return _from_tree(root)


def parse_json(data: str | bytes | dict) -> ServiceRequest:
    """A Service Request from its JSON form (see the module docstring)."""
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DuisError(None, f"not JSON: {exc}", "") from None
    if not isinstance(data, dict) or list(data) != ["Request"]:
        raise DuisError(None, "JSON must be one object {\"Request\": {...}}", "")
    return _from_tree(json_to_xml(data))


def parse(data: str | bytes | dict) -> ServiceRequest:
    """XML or JSON, told apart by the first non-blank character."""
    if isinstance(data, dict):
        return parse_json(data)
    head = (data.lstrip()[:1] if data else "")
    return parse_json(data) if head in ("{", b"{") else parse_xml(data)


def _from_tree(root: ET.Element) -> ServiceRequest:
    if root.tag != f"{{{SR}}}Request":
        raise DuisError(None, f"root element must be sr:Request, not {root.tag}", "")
    checked = validate(root)
    header = _child(root, "Header", "Request")
    body_el = _child(root, "Body", "Request")
    rid_text = _text(header, "RequestID", "Request/Header")
    request_id = RequestId.parse(rid_text, "Request/Header/RequestID")
    cv_text = _text(header, "CommandVariant", "Request/Header")
    if not cv_text.isdigit() or not 1 <= int(cv_text) <= 8:
        raise DuisError(None, f"CommandVariant {cv_text!r} is not 1..8",
                        "Request/Header/CommandVariant")
    sr = _text(header, "ServiceReference", "Request/Header")
    srv = _text(header, "ServiceReferenceVariant", "Request/Header")
    if not _SRV.match(srv) or not (srv + ".").startswith(sr + "."):
        raise DuisError(None, f"ServiceReferenceVariant {srv!r} does not belong to "
                        f"ServiceReference {sr!r}", "Request/Header/ServiceReferenceVariant")
    services = list(body_el)
    if len(services) != 1:
        raise DuisError(None, f"Body must hold one service element, not {len(services)}",
                        "Request/Body")
    body = _element(services[0])
    first = header.find(f"{{{SR}}}FirstInSequence")
    preceding = header.find(f"{{{SR}}}PrecedingServiceRequestID")
    when = body.value("ExecutionDateTime")
    path = f"Request/Body/{body.name}/ExecutionDateTime"
    return ServiceRequest(
        request_id=request_id, command_variant=int(cv_text), service_reference=sr,
        srv=srv, body=body,
        execution_datetime=parse_datetime(when, path) if when is not None else None,
        first_in_sequence=None if first is None else first.text.strip() == "true",
        preceding_request_id=(None if preceding is None else RequestId.parse(
            preceding.text or "", "Request/Header/PrecedingServiceRequestID")),
        schema_version=root.get("schemaVersion", ""), schema_checked=checked)


def _child(parent: ET.Element, name: str, path: str) -> ET.Element:
    found = parent.find(f"{{{SR}}}{name}")
    if found is None:
        raise DuisError(None, f"missing element {name}", path)
    return found


def _text(parent: ET.Element, name: str, path: str) -> str:
    return (_child(parent, name, path).text or "").strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element(el: ET.Element) -> Element:
    return Element(_local(el.tag), (el.text or "").strip(),
                   tuple(sorted((_local(k), v) for k, v in el.attrib.items())),
                   tuple(_element(c) for c in el))


def parse_datetime(text: str, path: str = "") -> _dt.datetime:
    """An xs:dateTime as DUIS writes it (``2015-01-15T09:00:00.00Z``), in UTC."""
    try:
        value = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DuisError(None, f"bad date-time {text!r}", path) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


# -- the JSON form -------------------------------------------------------------------------


def xml_to_json(data: str | bytes) -> dict:
    """The JSON form of a DUIS request (signature left out: it signs the XML)."""
    root = ET.fromstring(data)
    return {_local(root.tag): _to_obj(root)}


def _to_obj(el: ET.Element) -> Any:
    children = [c for c in el if c.tag != f"{{{DS}}}Signature"]
    attrs = {f"@{_local(k)}": v for k, v in el.attrib.items()
             if not k.startswith("{http://www.w3.org/2001/XMLSchema-instance}")}
    text = (el.text or "").strip()
    if not children and not attrs:
        return text
    obj: dict[str, Any] = dict(attrs)
    if not children:
        obj["#text"] = text
        return obj
    groups: dict[str, list[Any]] = {}
    for child in children:
        groups.setdefault(_local(child.tag), []).append(_to_obj(child))
    for name, values in groups.items():
        obj[name] = values[0] if len(values) == 1 else values
    return obj


def json_to_xml(obj: dict) -> ET.Element:
    """The DUIS XML tree of a JSON-form request (elements in the sr namespace)."""
    (name, value), = obj.items()
    root = ET.Element(f"{{{SR}}}{name}")
    _fill(root, value, name)
    return root


def _fill(el: ET.Element, value: Any, path: str) -> None:
    if isinstance(value, bool):
        el.text = "true" if value else "false"
        return
    if isinstance(value, (str, int, float)):
        el.text = str(value)
        return
    if value is None:
        return
    if not isinstance(value, dict):
        raise DuisError(None, f"expected an object, text or list, got {type(value).__name__}",
                        path)
    for key, item in value.items():
        if key.startswith("@"):
            el.set(key[1:], str(item))
        elif key == "#text":
            el.text = str(item)
        else:
            for one in (item if isinstance(item, list) else [item]):
                child = ET.SubElement(el, f"{{{SR}}}{key}")
                _fill(child, one, f"{path}/{key}")


# -- Service Responses ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    """A DUIS Service Response: its code and the parts that go in its XML."""

    code: str
    response_datetime: _dt.datetime
    request_id: RequestId | None = None
    response_id: RequestId | None = None
    service_reference: str = ""
    srv: str = ""
    gbcs_payload: bytes | None = None
    pre_command: bytes | None = None
    gbcs_version: str = "4.0"
    alert_code: int | None = None
    schedule_id: int | None = None
    content: Element | None = None      # a non-device response's element, e.g. DSPInventory
    service: str = ""                   # the request's body element (not in the XML)
    dcc_alert_code: str | None = None   # a DCC alert (AD1, N...): its DCCAlert child
    dcc_alert: Element | None = None

    def to_xml(self) -> str:
        return response_xml(self)


def _sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{SR}}}{name}")
    if text is not None:
        el.text = text
    return el


def _xs_datetime(when: _dt.datetime) -> str:
    when = when.astimezone(_dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 10000:02d}Z"


def response_xml(resp: ServiceResponse) -> str:
    """The Service Response as DUIS XML (schema-valid: the tests check it)."""
    ET.register_namespace("sr", SR)
    root = ET.Element(f"{{{SR}}}Response", {"schemaVersion": SCHEMA_VERSION})
    header = _sub(root, "Header")
    if resp.request_id is not None:
        _sub(header, "RequestID", str(resp.request_id))
    if resp.response_id is not None:
        _sub(header, "ResponseID", str(resp.response_id))
    _sub(header, "ResponseCode", resp.code)
    _sub(header, "ResponseDateTime", _xs_datetime(resp.response_datetime))
    body = _sub(root, "Body")
    if resp.dcc_alert_code is not None:
        alert = _sub(body, "DCCAlertMessage")
        _sub(alert, "DCCAlertCode", resp.dcc_alert_code)
        if resp.dcc_alert is not None:
            _element_xml(_sub(alert, "DCCAlert"), resp.dcc_alert)
        return ET.tostring(root, encoding="unicode", xml_declaration=True)
    if resp.alert_code is not None:
        alert = _sub(body, "DeviceAlertMessage")
        _sub(alert, "AlertCode", f"{resp.alert_code:04X}")
        _sub(alert, "GBCSPayload", base64.b64encode(resp.gbcs_payload or b"").decode())
        return ET.tostring(root, encoding="unicode", xml_declaration=True)
    message = _sub(body, "ResponseMessage")
    _sub(message, "ServiceReference", resp.service_reference)
    _sub(message, "ServiceReferenceVariant", resp.srv)
    if resp.pre_command is not None:
        pre = _sub(message, "PreCommand")
        _sub(pre, "GBCSVersion", resp.gbcs_version)
        _sub(pre, "GBCSPayload", base64.b64encode(resp.pre_command).decode())
    elif resp.gbcs_payload is not None:
        _sub(message, "GBCSPayload", base64.b64encode(resp.gbcs_payload).decode())
    elif resp.schedule_id is not None:
        _sub(message, "DSPScheduleID", str(resp.schedule_id))
    elif resp.content is not None:
        _element_xml(message, resp.content)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _element_xml(parent: ET.Element, element: Element) -> None:
    el = _sub(parent, element.name, element.text or None)
    for name, value in element.attributes:
        el.set(name, value)
    for child in element.children:
        _element_xml(el, child)


def validate_response(text: str) -> bool:
    """Check a Service Response against the schema (DuisError if invalid); False when
    no schema is available."""
    return validate(ET.fromstring(text))

"""XML-DSig on DUIS requests: the User signs each Service Request (an enveloped
signature, ECDSA P-256 / SHA-256, as the DUIS templates show), and the DCC checks it
against the User's key before anything else.

The signature DUIS uses: one Reference to the whole document (URI "") with the
enveloped-signature transform, so its digest is over the document without the
``ds:Signature`` element in inclusive Canonical XML 1.0 (what XML-DSig applies to a node
set after the last transform), unless an exclusive c14n transform follows it; SignedInfo
is canonicalised with exclusive c14n (the CanonicalizationMethod of the templates).
The SignatureValue is r||s (RFC 6931 ecdsa-sha256).

Canonicalisation is written here for the subset DUIS documents use (elements,
attributes, text; comments and processing instructions left out, no DTD): the standard
library parses with prefixes kept, so no extra dependency is needed (signxml would pull
lxml and wants X.509 certificates, where the lab's Users have bare keys).
"""

from __future__ import annotations

import base64
import hashlib
import re
from xml.parsers import expat
from dataclasses import dataclass, field

from gbcs import crypto

DS = "http://www.w3.org/2000/09/xmldsig#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
_XML_NS = "http://www.w3.org/XML/1998/namespace"


class SignatureError(Exception):
    """A request whose signature is missing, malformed or does not verify: says why."""


# -- a tree that keeps prefixes ----------------------------------------------------------------


@dataclass
class _Node:
    tag: str                                   # {uri}local
    prefix: str                                # the prefix the document writes it with
    attrs: dict[str, tuple[str, str]]          # {uri}local or local -> (prefix, value)
    declared: list[tuple[str, str]]            # (prefix, uri) declared on this element
    scope: dict[str, str]                      # prefix -> uri in scope here
    children: list[_Node | str] = field(default_factory=list)

    def find(self, uri: str, local: str) -> _Node | None:
        return next((c for c in self.children if isinstance(c, _Node)
                     and c.tag == f"{{{uri}}}{local}"), None)

    def text(self) -> str:
        return "".join(c for c in self.children if isinstance(c, str)).strip()

    def attribute(self, name: str) -> str | None:
        found = self.attrs.get(name)
        return None if found is None else found[1]


def _name(triplet: str) -> tuple[str, str]:
    """expat's ``uri local prefix`` -> ({uri}local or local, prefix)."""
    parts = triplet.split(" ")
    if len(parts) == 1:
        return parts[0], ""
    return f"{{{parts[0]}}}{parts[1]}", parts[2] if len(parts) > 2 else ""


def _parse(data: bytes) -> _Node:
    """The document as `_Node`s, prefixes kept (expat reports them with the names)."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SignatureError("DTDs and entities are not allowed")
    stack: list[_Node] = []
    pending: list[tuple[str, str]] = []
    roots: list[_Node] = []

    def start_ns(prefix: str | None, uri: str | None) -> None:
        pending.append((prefix or "", uri or ""))

    def start(name: str, attributes: list[str]) -> None:
        scope = dict(stack[-1].scope) if stack else {}
        scope.update(pending)
        tag, prefix = _name(name)
        attrs = {}
        for i in range(0, len(attributes), 2):
            key, key_prefix = _name(attributes[i])
            attrs[key] = (key_prefix, attributes[i + 1])
        node = _Node(tag, prefix, attrs, list(pending), scope)
        pending.clear()
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def characters(text: str) -> None:
        if stack:
            stack[-1].children.append(text)

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True
    parser.ordered_attributes = True
    parser.StartNamespaceDeclHandler = start_ns
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: stack.pop()
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise SignatureError(f"not well-formed XML: {exc}") from None
    if not roots:
        raise SignatureError("no document element")
    return roots[0]


# -- canonical XML 1.0 (inclusive and exclusive), without comments ------------------------------


def _split(name: str) -> tuple[str, str]:
    return tuple(name[1:].split("}", 1)) if name.startswith("{") else ("", name)


def _qname(prefix: str, name: str) -> str:
    local = _split(name)[1]
    return f"{prefix}:{local}" if prefix else local


def _escape_text(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#xD;"))


def _escape_attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            .replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;"))


def canonicalize(node: _Node, *, exclusive: bool, exclude: _Node | None = None,
                 rendered: dict[str, str] | None = None) -> str:
    """`node` and its descendants (but `exclude`) in Canonical XML 1.0, inclusive or
    exclusive, comments left out. `rendered` holds the namespace declarations already
    in the output above `node` (none when `node` is the apex of the output)."""
    rendered = dict(rendered or {})
    if exclusive:   # the namespaces the element and its attributes visibly use
        used = {node.prefix} | {p for name, (p, _) in node.attrs.items() if p}
        wanted = {p: node.scope.get(p, "") for p in used if p != "xml"}
    else:           # every namespace in scope
        wanted = dict(node.scope)
        if "" not in wanted and rendered.get(""):
            wanted[""] = ""
    decls = []
    for prefix, uri in sorted(wanted.items()):
        if rendered.get(prefix, "") == uri and (prefix in rendered or not uri):
            continue
        decls.append(f' xmlns:{prefix}="{_escape_attr(uri)}"' if prefix
                     else f' xmlns="{_escape_attr(uri)}"')
        rendered[prefix] = uri
    attrs = sorted(node.attrs.items(), key=lambda kv: _split(kv[0]))
    tag = _qname(node.prefix, node.tag)
    out = [f"<{tag}", *decls,
           *(f' {_qname(p, k)}="{_escape_attr(v)}"' for k, (p, v) in attrs), ">"]
    for child in node.children:
        if isinstance(child, str):
            out.append(_escape_text(child))
        elif child is not exclude:
            out.append(canonicalize(child, exclusive=exclusive, exclude=exclude,
                                    rendered=rendered))
    out.append(f"</{tag}>")
    return "".join(out)


# -- signing and verifying ----------------------------------------------------------------------


def _signed_info(digest: bytes) -> str:
    """A SignedInfo as DUIS requests carry it (with its own ds declaration)."""
    return (f'<ds:SignedInfo xmlns:ds="{DS}">'
            f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
            f'<ds:SignatureMethod Algorithm="{ECDSA_SHA256}"/>'
            f'<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"/>'
            f'<ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{SHA256}"/>'
            f'<ds:DigestValue>{base64.b64encode(digest).decode()}</ds:DigestValue>'
            f'</ds:Reference></ds:SignedInfo>')


_SIGNATURE = re.compile(r"<(?:[\w.-]+:)?Signature[\s>].*?</(?:[\w.-]+:)?Signature\s*>", re.S)


def _split_at_signature(data: bytes) -> tuple[str, str]:
    """The document's text before and after its ds:Signature (removed), or before and
    from its document element's end tag when it has none."""
    text = data.decode("utf-8")
    if _parse(data).find(DS, "Signature") is not None:
        found = list(_SIGNATURE.finditer(text))
        if found:
            return text[:found[-1].start()], text[found[-1].end():]
    end = text.rindex("</")
    return text[:end], text[end:]


def sign(data: bytes, key: crypto.PrivateKey, *, key_name: str = "") -> bytes:
    """`data` (a DUIS Request) with an enveloped XML-DSig signature by `key` as the last
    child of its document element (an existing one replaced). `key_name` goes in
    KeyInfo/KeyName (the User's EUI) to say whose key signs."""
    head, tail = _split_at_signature(data)
    root = _parse((head + tail).encode("utf-8"))
    digest = hashlib.sha256(canonicalize(root, exclusive=True).encode("utf-8")).digest()
    signed_info = _signed_info(digest)
    canonical = canonicalize(_parse(signed_info.encode()), exclusive=True)
    value = base64.b64encode(crypto.sign(key, canonical.encode("utf-8"))).decode()
    key_info = (f"<ds:KeyInfo><ds:KeyName>{key_name}</ds:KeyName></ds:KeyInfo>"
                if key_name else "")
    signature = (f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>'
                 + signed_info[signed_info.index(">") + 1:]
                 + f"<ds:SignatureValue>{value}</ds:SignatureValue>{key_info}"
                 "</ds:Signature>")
    return (head + signature + tail).encode("utf-8")


def has_signature(data: bytes) -> bool:
    try:
        return _parse(data).find(DS, "Signature") is not None
    except SignatureError:
        return False


def _algorithm(node: _Node | None, what: str) -> str:
    if node is None:
        raise SignatureError(f"no {what}")
    return node.attribute("Algorithm") or ""


def verify(data: bytes, key: crypto.PublicKey) -> None:
    """Check the enveloped signature of `data` with the User's public `key`; raise
    SignatureError saying what is wrong."""
    root = _parse(data)
    signature = root.find(DS, "Signature")
    if signature is None:
        raise SignatureError("the request is not signed (no ds:Signature)")
    info = signature.find(DS, "SignedInfo")
    if info is None:
        raise SignatureError("no SignedInfo")
    c14n = _algorithm(info.find(DS, "CanonicalizationMethod"), "CanonicalizationMethod")
    if c14n not in (EXC_C14N, C14N):
        raise SignatureError(f"unsupported CanonicalizationMethod {c14n}")
    method = _algorithm(info.find(DS, "SignatureMethod"), "SignatureMethod")
    if method != ECDSA_SHA256:
        raise SignatureError(f"unsupported SignatureMethod {method}")
    references = [c for c in info.children if isinstance(c, _Node)
                  and c.tag == f"{{{DS}}}Reference"]
    if len(references) != 1 or references[0].attribute("URI") != "":
        raise SignatureError('expected one Reference to the whole document (URI "")')
    reference = references[0]
    transforms = reference.find(DS, "Transforms")
    steps = [_algorithm(t, "Transform") for t in (transforms.children if transforms else [])
             if isinstance(t, _Node)]
    if not steps or steps[0] != ENVELOPED or steps[1:] not in ([], [EXC_C14N], [C14N]):
        raise SignatureError(f"unsupported Transforms {steps}")
    if _algorithm(reference.find(DS, "DigestMethod"), "DigestMethod") != SHA256:
        raise SignatureError("unsupported DigestMethod")
    expected = _b64(reference.find(DS, "DigestValue"), "DigestValue")
    document = canonicalize(root, exclusive=steps[1:] == [EXC_C14N], exclude=signature)
    if hashlib.sha256(document.encode("utf-8")).digest() != expected:
        raise SignatureError("the digest does not match: the request was changed after "
                             "it was signed")
    canonical = canonicalize(info, exclusive=c14n == EXC_C14N)
    value = _b64(signature.find(DS, "SignatureValue"), "SignatureValue")
    if not crypto.verify(key, canonical.encode("utf-8"), value):
        raise SignatureError("the signature does not verify with the User's key")


def _b64(node: _Node | None, what: str) -> bytes:
    if node is None:
        raise SignatureError(f"no {what}")
    try:
        return base64.b64decode("".join(node.text().split()), validate=True)
    except ValueError:
        raise SignatureError(f"{what} is not base64") from None

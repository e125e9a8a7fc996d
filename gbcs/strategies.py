"""Hypothesis strategies for whole GBCS messages of every message code, shared by the
property tests, the fuzzers and the benchmarks.

A message is drawn for a use case of the catalogue: a payload of the kind that use case
carries (built by the payload strategies of `gbcs.strategies_dlms`, `_gbz`, `_asn1`),
wrapped in a grouping header with any other-information variant, with or without a
signature and a MAC header.
"""

from __future__ import annotations

from hypothesis import strategies as st

from gbcs import asn1, gbz
from gbcs.build import grouping_header, mac_header, other_information
from gbcs.content import CRA_ALERT, CRA_COMMAND, CRA_RESPONSE
from gbcs.node import Node, encode
from gbcs.strategies_asn1 import spec_values
from gbcs.strategies_dlms import access_requests, access_responses, alert_notifications
from gbcs.strategies_gbz import gbz_alerts, gbz_commands
from gbcs.usecases import ASN1, BY_CONTENT, DLMS, GBZ, USE_CASES, UseCase

euis = st.binary(min_size=8, max_size=8)
counters = st.integers(0, 2**64 - 1)
date_times = st.none() | st.binary(min_size=12, max_size=12)


def encodable_use_cases() -> list[UseCase]:
    """Use cases whose messages are GBCS-framed (not the plain ZSE PPMID/HCALCS ones)."""
    return [uc for uc in USE_CASES.values() if uc.payload in (DLMS, GBZ, ASN1, BY_CONTENT)]


def _asn1_payload(code: int) -> st.SearchStrategy[tuple[int, Node]]:
    cras = sorted(asn1.STRUCTURES[code])

    @st.composite
    def draw_payload(draw: st.DrawFn) -> tuple[int, Node]:
        cra = draw(st.sampled_from(cras))
        _, _, spec = asn1.STRUCTURES[code][cra]
        return cra, asn1.build(code, cra, draw(spec_values(spec)))
    return draw_payload()


def _gbz_payload(uc: UseCase) -> st.SearchStrategy[tuple[int, Node]]:
    if uc.code in gbz.SPECIAL_CODES or uc.alert:
        wanted = uc.code if uc.code in gbz.SPECIAL_CODES else None
        return gbz_alerts().filter(lambda t: wanted is None or t[0] == wanted) \
            .map(lambda t: (CRA_ALERT, t[2]))
    return gbz_commands().map(lambda t: (t[1], t[2]))


def _dlms_payload(uc: UseCase) -> st.SearchStrategy[tuple[int, Node]]:
    if uc.alert:
        return alert_notifications().map(lambda n: (CRA_ALERT, n))
    return st.one_of(access_requests().map(lambda n: (CRA_COMMAND, n)),
                     access_responses().map(lambda n: (CRA_RESPONSE, n)))


def payloads(uc: UseCase) -> st.SearchStrategy[tuple[int, Node]]:
    """(CRA flag, payload tree) valid for the use case's message code."""
    if uc.code in asn1.STRUCTURES:
        return _asn1_payload(uc.code)
    if uc.payload == GBZ:
        return _gbz_payload(uc)
    if uc.payload == DLMS:
        return _dlms_payload(uc)
    return st.one_of(_gbz_payload(uc), _dlms_payload(uc))  # generic alerts: either


@st.composite
def other_informations(draw: st.DrawFn, code: int) -> Node:
    variant = draw(st.integers(0, 3))
    kwargs: dict = {}
    if variant >= 1:
        kwargs["supplementary_remote_party_id"] = draw(euis)
    if variant >= 2:
        kwargs["supplementary_remote_party_counter"] = draw(counters)
    if variant == 3:
        kwargs["supplementary_originator_counter"] = draw(counters)
    return other_information(code, **kwargs)


@st.composite
def messages(draw: st.DrawFn, use_case: UseCase | None = None) -> tuple[UseCase, bytes]:
    """(use case, message bytes): a grouping header around a valid payload, maybe
    with a (random) signature and a MAC header."""
    uc = use_case or draw(st.sampled_from(encodable_use_cases()))
    cra, payload = draw(payloads(uc))
    signature = draw(st.sampled_from((b"", None)) | st.binary(min_size=64, max_size=64))
    apdu = encode(grouping_header(
        cra=cra, originator_counter=draw(counters), originator=draw(euis),
        recipient=draw(euis), message_code=uc.code, content=payload,
        date_time=draw(date_times), signature=signature,
        other_info=draw(other_informations(uc.code))))
    if draw(st.booleans()):
        return uc, mac_header(apdu, draw(st.binary(min_size=16, max_size=16)), apdu[12:20],
                              draw(st.integers(0, 2**32 - 1)))
    return uc, apdu


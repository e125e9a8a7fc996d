"""Generated messages of every GBCS message code decode to what they were built from
and re-encode byte-exact."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gbcs.message import decode
from gbcs.strategies import encodable_use_cases, messages
from gbcs.usecases import USE_CASES as ALL
from gbcs.usecases import ZSE

USE_CASES = encodable_use_cases()


def test_every_framed_use_case_is_covered():
    """Only the plain ZSE PPMID/HCALCS messages (never GBCS-framed) are left out."""
    left_out = {uc.use_case for uc in ALL.values()} - {uc.use_case for uc in USE_CASES}
    assert left_out == {uc.use_case for uc in ALL.values() if uc.payload == ZSE}
    assert len(USE_CASES) >= 220


@pytest.mark.parametrize("uc", USE_CASES, ids=lambda uc: f"{uc.code:04X}-{uc.use_case}")
@given(data=st.data())
@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_generated_message_round_trips(uc, data):
    _, raw = data.draw(messages(uc))
    msg = decode(raw)
    assert msg.header.message_code == uc.code
    assert msg.roundtrip()


@given(messages())
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_any_message_round_trips(pair):
    uc, raw = pair
    assert decode(raw).use_case == uc

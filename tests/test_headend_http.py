"""The DCC's HTTP API (aiohttp): send, transform, sign, non-device, delivery to a User's
endpoint in the MMC form, polling, and every refusal as a DUIS response, never a 500."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import xml.etree.ElementTree as ET

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import KEYSTORE, REFERENCE, RTDS, need
from test_headend import ESME, MPAN, USER, FixedClock, template

from gbcs import crypto
from gbcs import keystore as keystores
from gbcs.message import DEFAULT_ACB, decode
from gbcs.usecases import by_id
from tools.headend import duis, mmc, transform, xmldsig
from tools.headend.access import (COMMISSIONED, DECOMMISSIONED, IS, OU, AnomalyDetector, Device,
                                  RequestMatrix, Threshold, User)
from tools.headend.dcc import Dcc, DccKeys
from tools.headend.http import HEADEND, Endpoint, create_app

UTC = dt.timezone.utc
OTHER = bytes.fromhex("90B3D51F30030000")
SR = f"{{{duis.SR}}}"


@pytest.fixture(scope="module")
def keys() -> keystores.Keystore:
    return keystores.load(need(KEYSTORE))


@pytest.fixture
def dcc(tmp_path, keys) -> Dcc:
    matrix = RequestMatrix.load(need(REFERENCE / "duis-request-matrix.json"))
    wan: list[tuple[bytes, bytes]] = []
    dcc = Dcc(db_path=tmp_path / "dcc.sqlite", clock=FixedClock(dt.datetime(2015, 1, 1,
                                                                            tzinfo=UTC)),
              keys=DccKeys(
                  acb=DEFAULT_ACB, acb_ka=keys.private_keys(DEFAULT_ACB, keystores.KA)[0],
                  device_ka=lambda eui: next(iter(keys.public_keys(eui, keystores.KA)), None),
                  user_ds=lambda eui: next(iter(keys.public_keys(eui, keystores.DS)), None)),
              wan=lambda rcpt, msg: wan.append((rcpt, msg)), matrix=matrix,
              anomaly=AnomalyDetector({"7.4": Threshold(1, dt.timedelta(hours=1))}))
    dcc.sent = wan
    dcc.inventory.add(Device(ESME, "ESME", COMMISSIONED, MPAN))
    dcc.inventory.register(MPAN, IS, USER)
    dcc.add_user(User(USER, IS))
    dcc.add_user(User(OTHER, OU))
    return dcc


def run(app: web.Application, scenario) -> None:
    """Run `scenario(client)` against `app` on a fresh event loop."""
    async def main() -> None:
        async with TestClient(TestServer(app)) as client:
            await scenario(client)
    asyncio.run(main())


async def post(client: TestClient, path: str, body: bytes, *,
               sign: bool = True) -> tuple[int, str]:
    """POST `body`, signed (XML-DSig) by its RequestID's originator when it is a DUIS
    request whose originator has a signing key in the RTDS key store."""
    if sign:
        body = signed_by_originator(body)
    reply = await client.post(path, data=body, headers={"Content-Type": "application/xml"})
    return reply.status, await reply.text()


def signed_by_originator(body: bytes) -> bytes:
    try:
        originator = duis.parse_xml(body).request_id.originator
    except duis.DuisError:
        return body
    found = keystores.load(need(KEYSTORE)).private_keys(originator, keystores.DS)
    return xmldsig.sign(body, found[0]) if found else body


def code_of(text: str) -> str:
    root = ET.fromstring(text)
    assert duis.validate(root) is duis.schema_checked()
    return root.find(f"{SR}Header/{SR}ResponseCode").text


def rtds(name: str) -> bytes:
    folder, = [p for p in need(RTDS).iterdir() if p.is_dir() and (p / name).exists()]
    return bytes.fromhex((folder / name).read_text().strip())


READ = "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"


def test_send_command_is_acknowledged_and_the_response_posted_to_the_user_in_mmc_form(dcc,
                                                                                       keys):
    caught: list[str] = []

    async def catch(request: web.Request) -> web.Response:
        caught.append(await request.text())
        return web.Response(status=200)

    async def scenario(client: TestClient) -> None:
        user_app = web.Application()
        user_app.router.add_post("/duis", catch)
        async with TestServer(user_app) as endpoint:
            headend = client.app[HEADEND]
            headend.endpoints[USER] = Endpoint(str(endpoint.make_url("/duis")), "mmc", keys)
            status, text = await post(client, "/api/v1/serviceS", template(READ))
            assert (status, code_of(text)) == (200, "I99")
            (rcpt, msg), = dcc.sent
            assert rcpt == ESME and decode(msg, keys).mac == "valid"
            # the ESME answers over the WAN (the RTDS response to this very request)
            answer = dcc.receive(rtds("ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX"))
            assert answer.code == "I0"
            await headend.drain()
        (body,), = [caught]
        assert mmc.validate(body) is duis.schema_checked()
        root = ET.fromstring(body)
        ra = f"{{{duis.RA}}}"
        reg = root.find(f"{ra}Body/{ra}ResponseMessage/{ra}SMETSData/"
                        f"{ra}ReadInstantaneousImportRegistersRsp/{ra}Electricity/"
                        f"{ra}ActiveImportRegister")
        assert reg.find(f"{ra}Value").text == "10"
        assert reg.find(f"{ra}ActiveEnergyUnit").text == "Wh"
        assert root.find(f"{ra}Header/{ra}ServiceReferenceVariant").text == "4.1.1"

    run(create_app(dcc), scenario)


def test_without_an_endpoint_responses_wait_to_be_polled(dcc, keys):
    async def scenario(client: TestClient) -> None:
        poll = f"/api/v1/responses/{duis.eui_text(USER)}"
        assert (await client.get(poll)).status == 204
        status, _ = await post(client, "/api/v1/serviceS", template(READ))
        dcc.receive(rtds("ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX"))
        reply = await client.get(poll, headers={"Accept": "application/json"})
        assert reply.status == 200
        both = await reply.json()
        assert code_of(both["duis"]) == "I0"
        assert mmc.validate(both["mmc"]) is duis.schema_checked()
        assert "GBCSData" in both["mmc"] and 'format="encrypted"' in both["mmc"]  # no key
        assert (await client.get(poll)).status == 204
        assert (await client.get("/api/v1/responses/not-an-eui")).status == 400

    run(create_app(dcc), scenario)


def test_critical_request_transform_then_signed_pre_command(dcc, keys):
    async def scenario(client: TestClient) -> None:
        request = template("ECS43_7.2_SUCCESS_REQUEST_DUIS.XML")
        status, text = await post(client, "/api/v1/serviceT", request)
        assert (status, code_of(text)) == (200, "I0") and dcc.sent == []
        payload = ET.fromstring(text).find(
            f"{SR}Body/{SR}ResponseMessage/{SR}PreCommand/{SR}GBCSPayload")
        command = transform.Command(by_id("ECS43")[0], USER, ESME, 0,
                                    base64.b64decode(payload.text))
        good = command.sign_with(keys.private_keys(USER, keystores.DS)[0])
        wrong = command.sign_with(crypto.generate_private_key())
        status, text = await post(client, "/api/v1/serviceS", signed_request(request, wrong))
        assert (status, code_of(text)) == (403, "E1") and dcc.sent == []  # bad signature
        status, text = await post(client, "/api/v1/serviceS", signed_request(request, good))
        assert (status, code_of(text)) == (200, "I99")
        (rcpt, msg), = dcc.sent
        checked = decode(msg, keys)
        assert (checked.signature, checked.mac) == ("valid", "valid")
        # the same signed pre-command again: nothing awaits it any more
        status, text = await post(client, "/api/v1/serviceS", signed_request(request, good))
        assert (status, code_of(text)) == (422, "E12") and len(dcc.sent) == 1

    run(create_app(dcc), scenario)


def signed_request(request: bytes, signed: bytes) -> bytes:
    """The DUIS Request returning a signed pre-command (command variant 5)."""
    root = ET.fromstring(request)
    root.find(f"{SR}Header/{SR}CommandVariant").text = "5"
    body = root.find(f"{SR}Body")
    for child in list(body):
        body.remove(child)
    spc = ET.SubElement(body, f"{SR}SignedPreCommand")
    ET.SubElement(spc, f"{SR}GBCSPayload").text = base64.b64encode(signed).decode()
    ET.register_namespace("sr", duis.SR)
    return ET.tostring(root, xml_declaration=True, encoding="utf-8")


def test_refusals_are_duis_responses_with_their_http_status(dcc):
    ou_request = template("ECS43_7.2_SUCCESS_REQUEST_DUIS.XML").replace(
        b"90-B3-D5-1F-30-01-00-00", b"90-B3-D5-1F-30-03-00-00")
    stranger = template(READ).replace(b"90-B3-D5-1F-30-01-00-00", b"90-B3-D5-1F-30-09-00-00")

    async def scenario(client: TestClient) -> None:
        s = "/api/v1/serviceS"
        assert (await post(client, s, b"<sr:Request"))[0] == 400           # bad XML
        assert (await post(client, s, b"{\"Request\": 1}"))[0] == 400      # bad JSON
        bad_utrn = template("CS01a_2.2_SUCCESS_REQUEST_DUIS.XML").replace(
            b"73946144332040217315", b"7394")
        status, text = await post(client, s, bad_utrn)                     # schema-invalid
        assert status == 400 and "UTRN" in text
        status, text = await post(client, "/api/v1/serviceT", ou_request)  # wrong role
        assert (status, code_of(text)) == (403, "E2")
        status, text = await post(client, s, stranger)                     # unknown User
        assert (status, code_of(text)) == (403, "E1")
        status, text = await post(client, s, template(READ))
        assert (status, code_of(text)) == (200, "I99")
        status, text = await post(client, s, template(READ))               # replay
        assert (status, code_of(text)) == (403, "E1")
        status, text = await post(client, s, template(
            "ECS43_7.2_SUCCESS_REQUEST_DUIS.XML"))                         # CV 4 to serviceS
        assert (status, code_of(text)) == (422, "E13")
        status, text = await post(client, "/api/v1/serviceT", template(
            "ECS45_7.4_SUCCESS_REQUEST_DUIS.XML"))                         # CV 1 to serviceT
        assert (status, code_of(text)) == (422, "E13")
        status, text = await post(client, "/api/v1/serviceD", template(
            "ECS45_7.4_SUCCESS_REQUEST_DUIS.XML"))                         # device to serviceD
        assert (status, code_of(text)) == (422, "E13")
        dcc.inventory.set_status(ESME, DECOMMISSIONED)
        status, text = await post(client, s, template(READ).replace(b":1000<", b":1001<"))
        assert (status, code_of(text)) == (409, "E5")                      # SMI status
        assert len(dcc.sent) == 1
        reply = await client.get("/api/v1/serviceS")
        assert reply.status == 405

    run(create_app(dcc), scenario)
    codes = {e.code for e in dcc.log.entries(failed_only=True)}
    assert {"E1", "E2", "E5", "E13", "HTTP 400"} <= codes


@pytest.mark.parametrize("body", [b"", b"\x00\xff" * 50, b"<a/>", b"[]", b"{}", b"null",
                                  b"<?xml version='1.0'?><sr:Request xmlns:sr='x'/>",
                                  b"<!DOCTYPE a [<!ENTITY b 'c'>]><a>&b;</a>"])
def test_no_input_gives_a_500(dcc, body):
    async def scenario(client: TestClient) -> None:
        for path in ("/api/v1/serviceS", "/api/v1/serviceT", "/api/v1/serviceD"):
            status, _ = await post(client, path, body)
            assert status == 400

    run(create_app(dcc), scenario)


def test_non_device_request_is_answered_by_the_dcc(dcc):
    async def scenario(client: TestClient) -> None:
        status, text = await post(client, "/api/v1/serviceD", template(
            "ECS21a_5.1._DCC_SCHEDULED_REQUEST_DUIS.XML"))
        assert (status, code_of(text)) == (200, "I0")
        assert "DSPScheduleID" in text

    run(create_app(dcc), scenario)


def test_failed_post_keeps_the_response_for_polling(dcc, keys):
    async def scenario(client: TestClient) -> None:
        headend = client.app[HEADEND]
        headend.endpoints[USER] = Endpoint("http://127.0.0.1:9/nowhere")
        await post(client, "/api/v1/serviceS", template(READ))
        dcc.receive(rtds("ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX"))
        await headend.drain()
        assert headend.failed_posts and headend.failed_posts[0][0] == USER
        reply = await client.get(f"/api/v1/responses/{duis.eui_text(USER)}")
        assert reply.status == 200 and code_of(await reply.text()) == "I0"

    run(create_app(dcc), scenario)


def test_json_requests_and_the_inventory_through_http(dcc):
    """The JSON form carries no signature: an app that requires one refuses it."""
    as_json = json.dumps(duis.xml_to_json(template(READ))).encode()

    async def refused(client: TestClient) -> None:
        reply = await client.post("/api/v1/serviceS", data=as_json,
                                  headers={"Content-Type": "application/json"})
        assert reply.status == 403 and code_of(await reply.text()) == "E1"

    run(create_app(dcc, require_signature=True), refused)

    async def scenario(client: TestClient) -> None:
        reply = await client.post("/api/v1/serviceS", data=as_json,
                                  headers={"Content-Type": "application/json"})
        assert reply.status == 200 and code_of(await reply.text()) == "I99"
        read = template("8.2_READ_INVENTORY_REQUEST_DUIS.XML").replace(
            b"00-DB-12-34-56-78-90-A2", b"00-DB-12-34-56-78-90-A0").replace(b":1000<",
                                                                             b":1001<")
        status, text = await post(client, "/api/v1/serviceD", read)
        assert (status, code_of(text)) == (200, "I0") and "<sr:DSPInventory>" in text
        missing = read.replace(b"90-A0<", b"90-EE<").replace(b":1001<", b":1002<")
        status, text = await post(client, "/api/v1/serviceD", missing)
        assert (status, code_of(text)) == (404, "E19")

    run(create_app(dcc), scenario)


def test_xml_signature_is_checked_against_the_users_key(dcc, keys):
    """A request signed by its User goes through; signed by another key, changed after
    signing, or (where signatures are required) unsigned, it gets E1 (403), is logged,
    and nothing is sent."""
    good = signed_by_originator(template(READ))
    changed = good.replace(b":1000<", b":1001<")
    by_other = xmldsig.sign(template(READ).replace(b":1000<", b":1002<"),
                            crypto.generate_private_key())
    placeholder = template(READ).replace(b":1000<", b":1003<")  # the template's dummy

    async def scenario(client: TestClient) -> None:
        s = "/api/v1/serviceS"
        for bad in (changed, by_other, placeholder):
            status, text = await post(client, s, bad, sign=False)
            assert (status, code_of(text)) == (403, "E1")
        unsigned = ET.fromstring(template(READ))
        unsigned.remove(unsigned.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
        status, text = await post(client, s, ET.tostring(unsigned), sign=False)
        assert (status, code_of(text)) == (403, "E1")
        assert dcc.sent == []
        status, text = await post(client, s, good, sign=False)
        assert (status, code_of(text)) == (200, "I99") and len(dcc.sent) == 1

    run(create_app(dcc, require_signature=True), scenario)
    failed = [e for e in dcc.log.failed_authentications() if "signature" in e.detail]
    assert len(failed) == 4

    async def bad_one_without_requirement(client: TestClient) -> None:
        status, text = await post(client, "/api/v1/serviceS", placeholder, sign=False)
        assert (status, code_of(text)) == (403, "E1")

    run(create_app(dcc), bad_one_without_requirement)

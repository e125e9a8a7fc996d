"""The DCC's HTTP API, shaped like DCC Boxed's, on aiohttp.

Routes (DUIS XML bodies, ``application/xml``; the JSON form of `duis` is accepted too):

- ``POST /api/v1/serviceS``: send a command. A non-critical request is checked and sent to
  the WAN; the answer is the DUIS acknowledgement (I99). A signed pre-command (a Request
  whose body is ``SignedPreCommand``, command variant 5-7) is checked, MAC'd and sent.
- ``POST /api/v1/serviceT``: transform a critical request (command variant 4); the answer
  is the Service Response carrying the pre-command for the User to sign.
- ``POST /api/v1/serviceD``: a non-device request the DCC answers itself.
- ``GET /api/v1/responses/{user}``: polling, for a User with no endpoint configured: the
  oldest undelivered Service Response or alert for that User's EUI (``90-B3-...``) as
  DUIS XML, and 204 when there is none. ``Accept: application/json`` gives
  ``{"duis": xml, "mmc": xml or null}`` instead.

Device responses and alerts go to the User's endpoint URL (a POST of the DUIS XML, or of
the MMC form of `mmc` when the endpoint asks for it) or wait in the User's mailbox.

Refusals are DUIS Service Responses with the error code and an HTTP status that says
what kind of refusal it is (`HTTP_STATUS`); a request that is not well-formed or not
schema-valid has no Service Response and gets 400 with the reason as text. Nothing a
client sends produces a 500. The DCC core stays synchronous: handlers call it directly.
The User is the RequestID's originator, authenticated by the request's XML-DSig
signature (`xmldsig`) checked with the User's key (`DccKeys.user_ds`): a bad signature
gets the DUIS error E1, like any failed authentication, and is kept in the message log.
An app created with ``require_signature=True`` (as DUIS has it) refuses unsigned
requests the same way, the JSON form included, which carries no signature; by default
unsigned requests are let in, so that lab scripts and the JSON form work without keys.
TLS client certificates are not checked here.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Callable

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from gbcs.keystore import Keystore
from tools.headend import duis, mmc, xmldsig
from tools.headend.dcc import SIGNED_CVS, TRANSFORM_CV, Accepted, Dcc, Quarantined
from tools.headend.duis import (E1, E2, E4, E5, E11, E12, E13, E19, E20, E21, DuisError,
                                ServiceRequest, ServiceResponse)

log = logging.getLogger(__name__)

XML = "application/xml"
# HTTP statuses for DUIS refusals: who you are (403), what is missing (404), the state of
# the device (409), what you asked for (422), the device not answering (503 / 504).
HTTP_STATUS = {E1: 403, E2: 403, E4: 403, E19: 404, E5: 409, E11: 422, E12: 422, E13: 422,
               E20: 503, E21: 504}
POLL_PATH = "/api/v1/responses/{user}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a User's responses and alerts go: a URL POSTed to, in the DUIS form (the
    sr:Response carrying the GBCS) or the MMC form (needs the User's KA key in `keys`
    to open encrypted responses)."""

    url: str
    form: str = "duis"
    keys: Keystore | None = None

    def __post_init__(self) -> None:
        if self.form not in ("duis", "mmc"):
            raise ValueError(f"endpoint form must be 'duis' or 'mmc', not {self.form!r}")


class HeadEnd:
    """The HTTP face of a `Dcc`: request handling, and delivery of what comes back
    (POST to an endpoint, or kept for polling)."""

    def __init__(self, dcc: Dcc, endpoints: dict[bytes, Endpoint] | None = None,
                 mmc_keys: Callable[[bytes], Keystore | None] | None = None, *,
                 require_signature: bool = False) -> None:
        self.dcc = dcc
        self.require_signature = require_signature
        self.endpoints = dict(endpoints or {})
        self.mmc_keys = mmc_keys or (lambda user: None)
        self.mailboxes: dict[bytes, deque[ServiceResponse]] = defaultdict(deque)
        self.failed_posts: list[tuple[bytes, str]] = []
        self._session: ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        previous = dcc.deliver

        def deliver(user: bytes, response: ServiceResponse) -> None:
            previous(user, response)
            self.deliver(user, response)
        dcc.deliver = deliver

    # -- delivery ---------------------------------------------------------------------------

    def deliver(self, user: bytes, response: ServiceResponse) -> None:
        """Called by the Dcc (on any thread): POST to the User's endpoint, else keep."""
        endpoint = self.endpoints.get(user)
        if endpoint is None or self._loop is None or self._loop.is_closed():
            self.mailboxes[user].append(response)
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._post_soon(user, endpoint, response)
        else:
            self._loop.call_soon_threadsafe(self._post_soon, user, endpoint, response)

    def _post_soon(self, user: bytes, endpoint: Endpoint, response: ServiceResponse) -> None:
        task = self._loop.create_task(self._post(user, endpoint, response))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, user: bytes, endpoint: Endpoint, response: ServiceResponse) -> None:
        body = self.render(response, endpoint.form, endpoint.keys)
        try:
            async with self._session.post(endpoint.url, data=body.encode("utf-8"),
                                          headers={"Content-Type": XML}) as reply:
                if reply.status >= 300:
                    raise ClientError(f"HTTP {reply.status}")
        except (ClientError, asyncio.TimeoutError, OSError) as exc:
            # the User's system is down: keep the response for polling
            self.failed_posts.append((user, str(exc)))
            self.mailboxes[user].append(response)
            log.warning("delivery to %s failed: %s", endpoint.url, exc)

    async def drain(self) -> None:
        """Wait for the deliveries in flight (tests, shutdown)."""
        await asyncio.sleep(0)  # let deliveries handed over from other threads start
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def render(self, response: ServiceResponse, form: str = "duis",
               keys: Keystore | None = None) -> str:
        """The DUIS XML of `response`, or its MMC form when asked and it has one."""
        return (form == "mmc" and self.mmc_form(response, keys)) or response.to_xml()

    def mmc_form(self, response: ServiceResponse, keys: Keystore | None) -> str | None:
        """The MMC form of a device response; None for alerts, DCC-made responses and
        GBCS that does not decode (those stay in the DUIS form)."""
        if not response.gbcs_payload or response.alert_code is not None:
            return None
        try:
            return mmc.to_mmc(response, keys)
        except DuisError as err:
            log.warning("no MMC form for %s: %s", response.request_id, err)
            return None

    async def on_startup(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = ClientSession(timeout=ClientTimeout(total=10))

    async def on_cleanup(self, app: web.Application) -> None:
        await self.drain()
        if self._session is not None:
            await self._session.close()
        self._loop = None

    # -- requests ---------------------------------------------------------------------------

    async def service_s(self, request: web.Request) -> web.Response:
        req = await self._parse(request)
        user = await self._user(request, req)
        if req.service == "SignedPreCommand":
            if req.command_variant not in SIGNED_CVS:
                raise DuisError(E12, "a signed pre-command takes command variant 5, 6 or 7",
                                "Request/Header/CommandVariant")
            payload = _base64(req.body.value("GBCSPayload", ""),
                              "Request/Body/SignedPreCommand/GBCSPayload")
            result = self.dcc.signed(payload, user)
        elif req.command_variant == TRANSFORM_CV:
            raise DuisError(E13, "command variant 4 (transform) goes to /api/v1/serviceT",
                            "Request/Header/CommandVariant")
        else:
            result = self.dcc.submit(req, user)
        return self._answer(req, result)

    async def service_t(self, request: web.Request) -> web.Response:
        req = await self._parse(request)
        user = await self._user(request, req)
        if req.command_variant != TRANSFORM_CV:
            raise DuisError(E13, "only command variant 4 (transform a critical request) goes "
                            "to /api/v1/serviceT", "Request/Header/CommandVariant")
        return self._answer(req, self.dcc.submit(req, user))

    async def service_d(self, request: web.Request) -> web.Response:
        req = await self._parse(request)
        user = await self._user(request, req)
        result = self.dcc.non_device(req, user)
        if isinstance(result, DuisError):
            return self.refusal(req, result)
        return _xml(result.to_xml())

    async def poll(self, request: web.Request) -> web.Response:
        text = request.match_info["user"]
        try:
            user = duis.eui(text)
            if len(user) != 8:
                raise ValueError
        except ValueError:
            return web.Response(status=400, text=f"not a User EUI-64: {text!r}")
        box = self.mailboxes.get(user)
        if not box:
            return web.Response(status=204)
        response = box.popleft()
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response({"duis": response.to_xml(),
                                      "mmc": self.mmc_form(response, self.mmc_keys(user))})
        return _xml(response.to_xml())

    async def _parse(self, request: web.Request) -> ServiceRequest:
        body = await request.read()
        return duis.parse(body)  # DuisError(None) -> 400 in the middleware

    async def _user(self, request: web.Request, req: ServiceRequest):
        """The DCC User who sent `req`, once its signature checks out (E1 if not)."""
        user = self.dcc.users.get(req.request_id.originator)
        if user is None:
            raise DuisError(E1, f"{duis.eui_text(req.request_id.originator)} is not a known "
                            "DCC User", "Request/Header/RequestID")
        body = await request.read()
        signed = not body.lstrip().startswith(b"{") and xmldsig.has_signature(body)
        if not signed:
            if self.require_signature:
                raise DuisError(E1, "the request carries no XML signature (DUIS XML "
                                "signed by the User is required)", "Request/Signature")
            return user
        key = self.dcc.keys.user_ds(user.eui)
        if key is None:
            raise DuisError(E1, f"no signing key known for {duis.eui_text(user.eui)}",
                            "Request/Signature")
        try:
            xmldsig.verify(body, key)
        except xmldsig.SignatureError as exc:
            raise DuisError(E1, f"bad signature: {exc}", "Request/Signature") from None
        return user

    def log_refusal(self, req: ServiceRequest | None, err: DuisError) -> None:
        """Record a request refused before it reached the Dcc (malformed, unknown User,
        wrong route) in the message log, failed authentications included."""
        self.dcc.log.add(self.dcc.clock.now(), "in",
                         user=req.request_id.originator if req else None,
                         request_id=str(req.request_id) if req else "",
                         srv=req.srv if req else "", code=err.code or "HTTP 400",
                         detail=str(err))

    def _answer(self, req: ServiceRequest,
                result: Accepted | Quarantined | DuisError) -> web.Response:
        if isinstance(result, DuisError):
            return self.refusal(req, result)
        if isinstance(result, Quarantined):
            # accepted for processing; the DCC alert tells the User it is quarantined
            return _xml(ServiceResponse(duis.I99, self.dcc.clock.now(), req.request_id, None,
                                        req.service_reference, req.srv).to_xml())
        return _xml(result.response.to_xml())

    def refusal(self, req: ServiceRequest, err: DuisError) -> web.Response:
        if err.code is None:
            return web.Response(status=400, text=str(err))
        resp = ServiceResponse(err.code, self.dcc.clock.now(), req.request_id, None,
                               req.service_reference, req.srv)
        return _xml(resp.to_xml(), HTTP_STATUS.get(err.code, 422), err)


def _xml(text: str, status: int = 200, err: DuisError | None = None) -> web.Response:
    headers = {"X-DUIS-Error": str(err)[:500]} if err else None
    return web.Response(status=status, text=text, content_type=XML, headers=headers)


def _base64(text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise DuisError(None, "not base64", path) from None


@web.middleware
async def _duis_errors(request: web.Request, handler) -> web.StreamResponse:
    """DuisError raised before a Service Request could be answered: 400 when malformed,
    else the Service Response for it; anything unexpected is logged and answered 400
    naming it, so no client input produces a 500."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except DuisError as err:
        headend = request.app[HEADEND]
        req = await _try_parse(request) if err.code is not None else None
        headend.log_refusal(req, err)
        if err.code is None:
            return web.Response(status=400, text=str(err))
        if req is None:
            return web.Response(status=HTTP_STATUS.get(err.code, 422), text=str(err))
        return headend.refusal(req, err)
    except Exception as exc:  # the DCC refuses what it cannot handle, it does not crash
        log.exception("unexpected error handling %s", request.path)
        return web.Response(status=400, text=f"request not processed: "
                            f"{type(exc).__name__}: {exc}")


async def _try_parse(request: web.Request) -> ServiceRequest | None:
    try:
        return duis.parse(await request.read())  # read once already: cached
    except DuisError:
        return None


HEADEND = web.AppKey("headend", HeadEnd)


def create_app(dcc: Dcc, *, endpoints: dict[bytes, Endpoint] | None = None,
               mmc_keys: Callable[[bytes], Keystore | None] | None = None,
               client_max_size: int = 4 << 20,
               require_signature: bool = False) -> web.Application:
    """The aiohttp application for `dcc`. `endpoints` maps a User's EUI to where its
    responses and alerts are POSTed; Users without one poll ``GET /api/v1/responses/{eui}``.
    `mmc_keys` gives the key store used for a poll's MMC form (a User's own keys).
    `require_signature` refuses unsigned requests (and the JSON form) with E1; a
    signature that is there is always checked."""
    headend = HeadEnd(dcc, endpoints, mmc_keys, require_signature=require_signature)
    app = web.Application(middlewares=[_duis_errors],
                          client_max_size=client_max_size)
    app[HEADEND] = headend
    app.router.add_post("/api/v1/serviceS", headend.service_s)
    app.router.add_post("/api/v1/serviceT", headend.service_t)
    app.router.add_post("/api/v1/serviceD", headend.service_d)
    app.router.add_get(POLL_PATH, headend.poll)
    app.on_startup.append(headend.on_startup)
    app.on_cleanup.append(headend.on_cleanup)
    return app


async def serve(app: web.Application, host: str = "127.0.0.1",
                port: int = 0) -> tuple[web.AppRunner, str]:
    """Start `app` on the running loop; (runner to clean up, base URL)."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]  # the port bound when 0 was asked
    return runner, f"http://{bound_host}:{bound_port}"

"""The receiver's unauthenticated routes: who this is, and pairing.

* ``GET  /api/v1/info`` — service, API version, name, certificate fingerprint (and ``bulk_port``).
* ``POST /api/v1/pair`` ``{token|pin, device_name}`` → ``{device_id, name, credential,
  fingerprint}`` (201, once per offer; offers come from :mod:`.pairing`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from lifelog.sources.wifi.common import API_VERSION
from lifelog.sources.wifi.registry import PairingRefused

if TYPE_CHECKING:
    from aiohttp import web

    from lifelog.sources.wifi.context import ReceiverContext


class PairingRoutes:
    def __init__(self, ctx: ReceiverContext) -> None:
        self.ctx = ctx

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/info", self.info, allow_head=False)
        app.router.add_post("/api/v1/pair", self.pair)

    async def info(self, request: web.Request) -> web.Response:
        from aiohttp import web

        from lifelog import __version__

        ctx = self.ctx
        return web.json_response(
            {
                "service": "lifelog",
                "api": API_VERSION,
                "version": __version__,
                "name": ctx.alias,
                "fingerprint": ctx.identity.fingerprint,
                **ctx.bulk_doc(),
            }
        )

    async def pair(self, request: web.Request) -> web.Response:
        from aiohttp import web

        ctx = self.ctx
        body = await ctx.json_body(request)
        if isinstance(body, web.Response):
            return body
        token, pin, name = body.get("token"), body.get("pin"), body.get("device_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            return ctx.refuse(request, 400, "device_name must be 1-100 characters")
        if any(unicodedata.category(c) == "Cc" for c in name):
            return ctx.refuse(request, 400, "device_name contains control characters")
        if (token is None) == (pin is None):
            return ctx.refuse(request, 400, "give exactly one of token or pin")
        if token is not None and (not isinstance(token, str) or len(token) > 200):
            return ctx.refuse(request, 400, "token must be a string")
        if pin is not None and (not isinstance(pin, str) or not re.fullmatch(r"\d{6}", pin)):
            return ctx.refuse(request, 400, "pin must be 6 digits")
        try:
            ctx.registry.redeem(token=token, pin=pin)
        except PairingRefused as e:
            return ctx.refuse(request, e.status, str(e))
        dev, credential = ctx.registry.add_device(name.strip())
        ctx.emit("paired", f"paired {dev.name!r} as {dev.id} from {ctx.peer(request)}", dev.id, name=dev.name)
        return web.json_response(
            {"device_id": dev.id, "name": dev.name, "credential": credential, "fingerprint": ctx.identity.fingerprint},
            status=201,
        )

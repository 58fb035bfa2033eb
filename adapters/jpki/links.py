"""The JPKI old/new linking service (新旧紐付け): which certificate a renewed one replaced.

Protocol (SPEC §5): `GET {base}/links/{serial_hex}` → 200 `{"previous_serial": "<hex>"}`, or
404 when the certificate replaced none. Anything else (time-out, refused connection, 5xx, a
body that does not say) is "unavailable": the caller fails closed rather than treating a renewed
card as a new resident.
"""

from __future__ import annotations

import re

import httpx

from adapters.tls import ClientTls

_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{1,64}$")


class LinkServiceUnavailable(Exception):
    pass


def normalise_serial(value: str) -> str:
    """Lower-case hex without leading zeros, as `serial_hex_of` writes it."""
    if not _HEX.match(value):
        raise ValueError(f"not a hexadecimal serial: {value!r}")
    return format(int(value, 16), "x")


class LinkService:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        tls: ClientTls | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._transport = transport
        self._tls = tls or ClientTls()
        self._http: httpx.AsyncClient | None = None  # made on first use: no I/O at start-up

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout_s,
                transport=self._transport,
                verify=self._tls.ssl_context(),
            )
        return self._http

    async def previous_serial(self, serial_hex: str) -> str | None:
        """The serial this certificate renewed, or None when it is a first issue."""
        try:
            response = await self._client().get(f"/links/{normalise_serial(serial_hex)}")
        except httpx.HTTPError as exc:
            raise LinkServiceUnavailable(f"linking service unreachable: {exc!r}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise LinkServiceUnavailable(f"linking service answered {response.status_code}")
        try:
            previous = response.json()["previous_serial"]
            return normalise_serial(str(previous))
        except (ValueError, KeyError, TypeError) as exc:
            raise LinkServiceUnavailable("linking service answer has no previous_serial") from exc

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

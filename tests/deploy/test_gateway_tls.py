"""The Compose gateway answers over TLS only: the real nginx runs the repository's
`deploy/compose/config/nginx.conf`, adapted only in its addresses and certificate paths, in
front of a running hub, with the self-signed certificate `mph tls self-signed` makes for the
local shape. Plain HTTP is redirected (or, on the TLS port, refused), TLS below 1.2 is refused,
every answer carries HSTS, and a replaced certificate is served after `nginx -s reload`."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from cli.tls import CERTIFICATE, KEY, ensure_self_signed
from tests.support.nginx import nginx_binary, running_nginx
from tests.support.servers import free_port
from tests.support.stack import Hub

CONFIG = Path(__file__).parents[2] / "deploy" / "compose" / "config" / "nginx.conf"


@dataclass
class Gateway:
    https_port: int
    http_port: int
    tls_dir: Path
    prefix: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def trusting(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.tls_dir / CERTIFICATE)  # self-signed

    def served_certificate(self) -> bytes:
        """Which certificate is served (read, not verified: it may just have been replaced)."""
        reading = ssl.create_default_context()
        reading.check_hostname = False
        reading.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", self.https_port), timeout=5) as raw,
            reading.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            served = tls.getpeercert(binary_form=True)
        assert served is not None
        return served


def adapted(config: str, *, api: str, http_port: int, https_port: int, tls_dir: Path) -> str:
    """The repository's file with only its addresses and certificate paths changed."""
    replacements = {
        "server api:8000": f"server {api}",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "/etc/nginx/tls/": f"{tls_dir}/",
    }
    for old, new in replacements.items():
        assert old in config, f"nginx.conf no longer has {old!r}: adapt this test"
        config = config.replace(old, new)
    return config


@pytest.fixture
def gateway(hub: Hub, tmp_path: Path) -> Iterator[Gateway]:
    tls_dir = tmp_path / "tls"
    assert ensure_self_signed(tls_dir, ["localhost", "127.0.0.1"])  # what gateway-tls does
    http_port, https_port = free_port(), free_port()
    block = adapted(
        CONFIG.read_text(),
        api=urlsplit(hub.api_url).netloc,
        http_port=http_port,
        https_port=https_port,
        tls_dir=tls_dir,
    )
    prefix = tmp_path / "nginx"
    with running_nginx(prefix, block, [http_port, https_port]):
        yield Gateway(https_port, http_port, tls_dir, prefix)


async def test_the_gateway_serves_the_hub_over_tls_with_hsts(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, verify=gateway.trusting()) as http:
        health = await http.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        assert health.headers["strict-transport-security"].startswith("max-age=63072000")
        challenge = await http.post("/v1/auth/challenges")  # a write reaches the API too
        assert challenge.status_code == 201, challenge.text
        assert (await http.get("/metrics")).status_code == 404


def handshake(gateway: Gateway, version: ssl.TLSVersion) -> str | None:
    context = gateway.trusting()
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client would; the gateway must not
    with (
        socket.create_connection(("127.0.0.1", gateway.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.version()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_below_1_2_is_refused(gateway: Gateway) -> None:
    assert handshake(gateway, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(gateway, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises(ssl.SSLError):
            handshake(gateway, old)


async def test_plain_http_is_redirected_and_never_served(gateway: Gateway) -> None:
    async with httpx.AsyncClient() as http:
        redirected = await http.get(f"http://127.0.0.1:{gateway.http_port}/v1/measures?q=x")
        assert redirected.status_code == 301
        assert redirected.headers["location"] == "https://127.0.0.1/v1/measures?q=x"
        posted = await http.post(f"http://127.0.0.1:{gateway.http_port}/v1/auth/challenges")
        assert posted.status_code == 301  # nothing reaches the API without TLS
        on_tls_port = await http.get(f"http://127.0.0.1:{gateway.https_port}/healthz")
        assert on_tls_port.status_code == 400
        assert "plain HTTP request was sent to HTTPS port" in on_tls_port.text


async def test_a_replaced_certificate_is_served_after_a_reload(gateway: Gateway) -> None:
    """The rotation docs/operations.md describes: new files, then `nginx -s reload`."""
    before = gateway.served_certificate()
    replacement = gateway.tls_dir.parent / "new-tls"
    assert ensure_self_signed(replacement, ["localhost", "127.0.0.1"])
    for name in (CERTIFICATE, KEY):
        shutil.copy(replacement / name, gateway.tls_dir / name)
    config = gateway.prefix / "nginx.conf"
    reload = await asyncio.create_subprocess_exec(
        nginx_binary(), "-p", str(gateway.prefix), "-c", str(config), "-s", "reload"
    )
    assert await asyncio.wait_for(reload.wait(), timeout=30) == 0
    expected = ssl.PEM_cert_to_DER_cert((replacement / CERTIFICATE).read_text())
    for _ in range(100):  # the old workers finish, new ones start with the new certificate
        if gateway.served_certificate() == expected:
            break
        await asyncio.sleep(0.1)
    served = gateway.served_certificate()
    assert hashlib.sha256(served).digest() == hashlib.sha256(expected).digest()
    assert served != before


def test_a_mounted_certificate_is_never_replaced(tmp_path: Path) -> None:
    """`gateway-tls` runs at every start: it makes a certificate once and keeps any it finds."""
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / CERTIFICATE).write_text("the operator's certificate")
    (mounted / KEY).write_text("the operator's key")
    assert not ensure_self_signed(mounted, ["hub.example.jp"])
    assert (mounted / CERTIFICATE).read_text() == "the operator's certificate"
    made = tmp_path / "made"
    assert ensure_self_signed(made, ["localhost"])
    first = (made / CERTIFICATE).read_bytes()
    assert not ensure_self_signed(made, ["localhost"])
    assert (made / CERTIFICATE).read_bytes() == first
    assert (made / KEY).stat().st_mode & 0o077 == 0  # the key is readable by its owner only

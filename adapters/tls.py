"""TLS for the hub's outgoing HTTP calls: providers and the JPKI services.

Server certificates are always verified, against a custom CA bundle when one is given (a
provider with a private CA) or the public CA bundle otherwise; TLS 1.2 is the least version
offered. A client certificate is presented when given (mutual TLS, where a provider requires
it). Files are read when the client is built, so a rotated file is used by the next adapter a
configuration change builds.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi

TLS_CONFIG_KEYS = ("tls_ca_bundle", "tls_client_cert", "tls_client_key")


class InsecureUrl(ValueError):
    """A URL that production may not call: not `https://`."""


@dataclass(frozen=True)
class ClientTls:
    """Where the PEM files are; every field optional."""

    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None  # when the certificate file does not hold the key too

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ClientTls:
        """`tls_ca_bundle`, `tls_client_cert`, `tls_client_key` of a provider's configuration."""

        def text(key: str) -> str | None:
            value = config.get(key)
            return str(value) if value else None

        return cls(text("tls_ca_bundle"), text("tls_client_cert"), text("tls_client_key"))

    def problems(self) -> list[str]:
        """What is wrong with the files on this host (empty: usable)."""
        found = []
        if self.client_key and not self.client_cert:
            found.append("tls_client_key needs tls_client_cert")
        for name, value in (
            ("tls_ca_bundle", self.ca_bundle),
            ("tls_client_cert", self.client_cert),
            ("tls_client_key", self.client_key),
        ):
            if value and not Path(value).is_file():
                found.append(f"{name} {value} is not a readable file on this host")
        if not found:
            try:
                self.ssl_context()
            except (ssl.SSLError, OSError, ValueError) as exc:
                found.append(f"the TLS files cannot be used: {exc}")
        return found

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_bundle or certifi.where())
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


def require_https(url: str, what: str) -> None:
    """Production calls outside systems over TLS only."""
    if urlsplit(url).scheme != "https":
        raise InsecureUrl(f"{what} must be an https:// URL in production, not {url!r}")

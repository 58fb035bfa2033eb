"""Certificate revocation lists (CRL) of the JPKI roots: fetched from files or URLs, verified
against the issuing root, refreshed on a schedule.

A CRL is believed only when a configured trust anchor's key verifies its signature (several root
generations share one name, so the name proves nothing), and only until its next-update plus a
configured grace period. After that, or when no CRL of a certificate's issuer was ever loaded,
the answer is "unknown" and the login fails closed with 503 `revocation_status_unavailable`:
the hub pays out public money and does not guess. A refresh that fails keeps the last good CRL,
which stays usable within the same limit. An older CRL never replaces a newer one, so a replayed
stale list cannot un-revoke a certificate.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509

from adapters.jpki.verifier import TrustStore, fingerprint
from adapters.tls import ClientTls
from domain.errors import RuleViolation

log = logging.getLogger(__name__)

_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)


class CrlError(Exception):
    """A source that could not be read, or a CRL that cannot be believed."""


@dataclass(frozen=True)
class CrlSnapshot:
    """What one verified CRL says about one issuer."""

    issuer_fingerprint: str
    revoked: frozenset[int]
    this_update: datetime
    next_update: datetime
    number: int | None
    source: str


@dataclass
class RefreshReport:
    loaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def parse_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """DER, or PEM holding one or several CRLs."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            blocks = _PEM_CRL.findall(data)
            if not blocks:
                raise CrlError("no X509 CRL in the PEM data")
            return [x509.load_pem_x509_crl(block) for block in blocks]
        return [x509.load_der_x509_crl(data)]
    except ValueError as exc:
        raise CrlError(f"not a CRL: {exc}") from exc


def _number_of(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


class CrlCache:
    """The latest verified CRL of each trust anchor, and the revocation check of a login."""

    def __init__(
        self,
        sources: Sequence[str],
        trust: TrustStore,
        *,
        grace: timedelta,
        timeout_s: float = 5.0,
        tls: ClientTls | None = None,
    ) -> None:
        self.sources = list(sources)
        self.trust = trust
        self.grace = grace
        self.timeout_s = timeout_s
        self.tls = tls or ClientTls()
        self.snapshots: dict[str, CrlSnapshot] = {}
        self.last_report = RefreshReport()

    @property
    def enabled(self) -> bool:
        """Without configured sources the hub checks no revocation (development only)."""
        return bool(self.sources)

    # ----- loading ---------------------------------------------------------------------------

    async def refresh(self) -> RefreshReport:
        report = RefreshReport()
        for source in self.sources:
            try:
                for crl in parse_crls(await self._read(source)):
                    self.accept(crl, source)
            except (CrlError, OSError, httpx.HTTPError) as exc:
                report.failed[source] = str(exc) or type(exc).__name__
                log.warning("CRL source %s could not be loaded: %s", source, report.failed[source])
                continue
            report.loaded.append(source)
        self.last_report = report
        return report

    async def _read(self, source: str) -> bytes:
        if source.startswith(("http://", "https://")):
            async with httpx.AsyncClient(
                timeout=self.timeout_s, verify=self.tls.ssl_context()
            ) as http:
                response = await http.get(source)
            if response.status_code != 200:
                raise CrlError(f"HTTP {response.status_code}")
            return response.content
        path = Path(source.removeprefix("file://"))
        return await asyncio.to_thread(path.read_bytes)

    def accept(self, crl: x509.CertificateRevocationList, source: str) -> CrlSnapshot:
        """Keep `crl` if an anchor's key signed it and it is not older than what is known."""
        issuer = next(
            (
                anchor
                for anchor in self.trust.anchors
                if crl.issuer == anchor.subject and crl.is_signature_valid(anchor.public_key())  # type: ignore[arg-type]
            ),
            None,
        )
        if issuer is None:
            raise CrlError("the CRL is not signed by a trusted JPKI root")
        next_update = crl.next_update_utc
        if next_update is None:
            raise CrlError("the CRL has no next-update")
        snapshot = CrlSnapshot(
            issuer_fingerprint=fingerprint(issuer),
            revoked=frozenset(entry.serial_number for entry in crl),
            this_update=crl.last_update_utc,
            next_update=next_update,
            number=_number_of(crl),
            source=source,
        )
        known = self.snapshots.get(snapshot.issuer_fingerprint)
        if known is not None and known.this_update > snapshot.this_update:
            return known
        self.snapshots[snapshot.issuer_fingerprint] = snapshot
        return snapshot

    async def keep_fresh(self, interval_s: float) -> None:
        """Refresh every `interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception:  # the loop must outlive any one bad refresh
                log.exception("CRL refresh failed")

    # ----- checking --------------------------------------------------------------------------

    def check(self, serial_hex: str, issuer_fingerprint: str, now: datetime) -> None:
        """Refuse a revoked certificate; fail closed when the issuer's CRL is missing or stale."""
        if not self.enabled:
            return
        snapshot = self.snapshots.get(issuer_fingerprint)
        if snapshot is not None and int(serial_hex, 16) in snapshot.revoked:
            raise RuleViolation(
                "certificate_revoked", "the certificate has been revoked", status=401
            )
        if snapshot is None or now > snapshot.next_update + self.grace:
            raise RuleViolation(
                "revocation_status_unavailable",
                "the certificate's revocation status cannot be confirmed right now",
                status=503,
                retry_after_s=60,
            )

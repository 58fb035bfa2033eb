"""`mph tls self-signed`: the gateway's certificate for the local Compose shape.

The gateway serves TLS only. Where no certificate is mounted (a laptop, a test host), the
Compose file's one-shot `gateway-tls` runs this command at first start: it writes `tls.crt` and
`tls.key` (ECDSA P-256, a year) for the given host names, and leaves existing files alone, so a
mounted certificate is never replaced and a restart keeps the one it made.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

app = typer.Typer(help="TLS certificates of the deployment shapes", no_args_is_help=True)

CERTIFICATE = "tls.crt"
KEY = "tls.key"


def subject_names(hosts: list[str] | tuple[str, ...]) -> list[x509.GeneralName]:
    """Host names as DNS names, addresses as IP addresses (what TLS clients match)."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def self_signed(hosts: list[str], days: int = 365) -> tuple[bytes, bytes]:
    """A server certificate and its key (PEM) for `hosts`, signed by itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(subject_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_self_signed(directory: Path, hosts: list[str], days: int = 365) -> bool:
    """Write a self-signed pair unless `directory` holds a certificate already; True if written."""
    if (directory / CERTIFICATE).exists() or (directory / KEY).exists():
        return False
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = self_signed(hosts, days)
    fd = os.open(directory / KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    (directory / CERTIFICATE).write_bytes(certificate)
    return True


@app.command("self-signed")
def self_signed_command(
    directory: Annotated[Path, typer.Option("--dir", help="where tls.crt and tls.key go")],
    host: Annotated[
        list[str], typer.Option(help="a host name or address the certificate names; repeat")
    ],
    days: Annotated[int, typer.Option(min=1, max=825)] = 365,
) -> None:
    """Write a self-signed certificate unless one is there (a mounted one is kept)."""
    if ensure_self_signed(directory, host, days):
        typer.echo(f"wrote a self-signed certificate for {', '.join(host)} to {directory}")
    else:
        typer.echo(f"{directory} holds a certificate already; left as it is")

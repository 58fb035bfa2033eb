"""The hub's own back ends over TLS, as production configures them: Temporal behind a TLS
frontend that requires a client certificate (nginx proxying gRPC to a dev server), and a private
PostgreSQL that accepts only TLS connections with a client certificate, reached with
`sslmode=verify-full`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from hub.settings import Environment, Settings
from hub.temporal import connect
from storage.database import create_engine
from storage.migrate import upgrade
from tests.drills.postgres import PrivatePostgres, private_postgres
from tests.support.nginx import running_nginx
from tests.support.servers import free_port
from tests.support.tls import TestPki


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return TestPki(tmp_path / "pki")


async def test_the_hub_reaches_temporal_over_mutual_tls(
    temporal_env: WorkflowEnvironment, pki: TestPki, tmp_path: Path
) -> None:
    server, client = pki.server(), pki.client()
    port = free_port()
    frontend = temporal_env.client.service_client.config.target_host
    block = f"""
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {server.certificate};
        ssl_certificate_key {server.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate {pki.ca_bundle};
        ssl_verify_client on;
        location / {{ grpc_pass grpc://{frontend}; }}
    }}"""
    without_certificate = Settings(
        env=Environment.TEST,
        temporal_address=f"127.0.0.1:{port}",
        temporal_tls_ca=pki.ca_bundle,
        temporal_tls_server_name="localhost",
    )
    with running_nginx(tmp_path / "nginx", block, [port]) as nginx:
        settings = without_certificate.model_copy(
            update={
                "temporal_tls_client_cert": client.certificate,
                "temporal_tls_client_key": client.key,
            }
        )
        hub_client = await connect(settings, wait_s=30)
        info = await hub_client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version
        assert await hub_client.count_workflows() is not None
        with pytest.raises(RuntimeError):
            await connect(without_certificate, wait_s=2)
        plain = Settings(env=Environment.TEST, temporal_address=f"127.0.0.1:{port}")
        with pytest.raises(RuntimeError):
            await connect(plain, wait_s=2)
        log = (nginx / "access.log").read_text()
    assert "GetSystemInfo" in log  # the call went through the TLS frontend


def require_tls_and_client_certificates(postgres: PrivatePostgres, pki: TestPki) -> None:
    """The server accepts TLS connections with a client certificate of the user's name only."""
    server = pki.server("postgres-server")
    data = postgres.data_dir / "data"
    for source, name in (
        (server.certificate, "server.crt"),
        (server.key, "server.key"),
        (pki.ca_bundle, "root.crt"),
    ):
        shutil.copy(source, data / name)
        if os.geteuid() == 0:
            shutil.chown(data / name, "postgres", "postgres")
        (data / name).chmod(0o600)
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all all 127.0.0.1/32 trust clientcert=verify-full\n"
        "host all all 127.0.0.1/32 reject\n"
    )
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("ssl = on\nssl_ca_file = 'root.crt'\n")


@pytest.fixture
def tls_postgres(pki: TestPki) -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        require_tls_and_client_certificates(server, pki)
        server.restart()
        yield server


async def test_the_hub_reaches_postgresql_with_verify_full_and_a_client_certificate(
    tls_postgres: PrivatePostgres, pki: TestPki, tmp_path: Path
) -> None:
    client = pki.client("postgres")  # the certificate's name is the database user's
    url = f"postgresql://postgres@127.0.0.1:{tls_postgres.port}/postgres"
    settings = Settings(
        env=Environment.TEST,
        database_url=url,
        database_sslmode="verify-full",
        database_sslrootcert=pki.ca_bundle,
        database_sslcert=client.certificate,
        database_sslkey=client.key,
    )
    upgrade(settings.effective_database_url)  # the migrations connect alike
    engine = create_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            encrypted = await connection.scalar(
                text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
            tables = await connection.scalar(
                text("SELECT count(*) FROM information_schema.tables WHERE table_name = 'grants'")
            )
        assert encrypted is True
        assert tables == 1
    finally:
        await engine.dispose()

    other = TestPki(tmp_path / "other-pki")
    refused = {
        "another CA": settings.model_copy(update={"database_sslrootcert": other.ca_bundle}),
        "no client certificate": settings.model_copy(
            update={"database_sslcert": None, "database_sslkey": None}
        ),
        "no TLS": settings.model_copy(update={"database_sslmode": "disable"}),
    }
    for attempt in refused.values():
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(attempt.effective_database_url, connect_timeout=5).close()

"""All configuration, read once from the environment (`HUB_*`, SPEC §5)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from cryptography import x509
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from adapters.jpki.hierarchy import is_test_root
from adapters.tls import ClientTls
from domain import jpki_profile
from domain.reviews import Decision, ReviewPolicy

DATA_DIR = Path(".data")
DEV_OPERATOR_KEY = "hubk_dev_operator_bootstrap_key"
DEV_SECRET = "development-only-secret-change-me"
DEV_QR_KEY = "development-only-qr-signing-key"
DEV_CONSOLE_SECRET = "development-only-console-session-secret"
DEV_AUDIT_KEY = "development-only-audit-hmac-key"
DEV_PAYLOAD_KEYS = "dev1:ZGV2ZWxvcG1lbnQtb25seS1wYXlsb2FkLWtleS0zMmI="  # 32 bytes, public


DEFAULT_CACHED_WORKFLOWS = 5000  # keeps a worker under 1 GiB however many are open


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = DATA_DIR
    database_url: str = ""
    # PostgreSQL over TLS (libpq's sslmode: verify-full checks the chain and the host name), with
    # a private CA and a client certificate when the server asks for one.
    database_sslmode: str = Field(
        default="", pattern="^(|disable|allow|prefer|require|verify-ca|verify-full)$"
    )
    database_sslrootcert: Path | None = None
    database_sslcert: Path | None = None
    database_sslkey: Path | None = None
    database_pool_size: int = Field(default=10, ge=1, le=200)  # per process, as many on bursts
    temporal_address: str = ""
    temporal_namespace: str = "default"
    # TLS to the Temporal frontend: on with HUB_TEMPORAL_TLS=true or any file below; a private CA
    # (else the system's), a client certificate for mutual TLS, the name the server's
    # certificate carries when the address does not.
    temporal_tls: bool = False
    temporal_tls_ca: Path | None = None
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_name: str = ""
    temporal_ui_url: str = "http://127.0.0.1:8233"
    task_queue: str = "hub"
    # What carries an application's lifecycle (`services/orchestration.py`): the durable Temporal
    # workflows, or `direct` in-process calls (not durable; benchmarks only, refused in production).
    orchestration: str = Field(default="temporal", pattern="^(temporal|direct)$")
    jpki_trust_anchors: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    jpki_crl_sources: Annotated[list[str], NoDecode] = Field(default_factory=list)
    jpki_link_service_url: str = ""
    jpki_allow_test_hierarchy: bool = True
    # Certificate policies that mark a user-authentication certificate (利用者証明用); the
    # J-LIS production policy by default. Never the signature policy or a personal-data field.
    jpki_user_authentication_policies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [jpki_profile.USER_AUTHENTICATION_POLICY]
    )
    jpki_crl_refresh_s: float = Field(default=300.0, gt=0)  # every CRL source is read this often
    jpki_crl_grace_s: float = Field(default=3600.0, ge=0)  # a CRL is trusted to next-update + this
    jpki_http_timeout_s: float = Field(default=5.0, gt=0)  # CRL downloads, the linking service
    # TLS to the linking service and https:// CRL sources: a private CA bundle (else the public
    # one) and a client certificate where the service requires one.
    jpki_tls_ca_bundle: Path | None = None
    jpki_tls_client_cert: Path | None = None
    jpki_tls_client_key: Path | None = None
    operator_bootstrap_key: SecretStr = SecretStr(DEV_OPERATOR_KEY)
    token_secret: SecretStr = SecretStr(DEV_SECRET)
    qr_signing_key: SecretStr = SecretStr(DEV_QR_KEY)  # signs event QR payloads
    console_session_secret: SecretStr = SecretStr(DEV_CONSOLE_SECRET)  # signs console cookies
    audit_hmac_key: SecretStr = SecretStr(DEV_AUDIT_KEY)  # chains the audit log
    audit_seal_interval_s: float = Field(default=1.0, gt=0)  # the worker seals this often
    payload_keys: SecretStr = SecretStr(DEV_PAYLOAD_KEYS)  # id:base64,…; the first encrypts
    catalog_cache_s: float = Field(default=1.0, ge=0, le=60)  # resident catalogue reads kept
    rate_limit_storage: str = "memory://"  # or redis://127.0.0.1:6379 to share across APIs
    # Login abuse is limited per card, challenge and MyKey ID. Per client address there is only a
    # coarse flood valve: a mobile carrier puts many residents behind one public address, and
    # 6,000 requests (a login is a challenge and a session) let 3,000 of them log in a minute.
    rate_limit_login: str = "6000/minute"  # per client address, login challenges and sessions
    rate_limit_login_card: str = "10/minute"  # per certificate serial, logins and card proofs
    rate_limit_login_challenge: str = "3/minute"  # per challenge ID (single use: replays)
    rate_limit_login_mykey: str = "20/minute"  # per MyKey ID, logins
    rate_limit_resident_writes: str = "120/minute"  # per MyKey ID, resident writes
    rate_limit_address_writes: str = "6000/minute"  # per client address, resident writes
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    session_ttl_s: int = 1800
    challenge_ttl_s: int = 300
    # A request that waits on a workflow (an update, a start) answers within this: past it, 503
    # `temporal_unavailable` with Retry-After, or 202 where the work was already accepted.
    workflow_wait_s: float = Field(default=30.0, gt=0, le=300)
    # …while the update call itself goes on this long in the background, so that an update not
    # yet accepted into history is re-sent (`services/temporal_orchestration.within_deadline`).
    workflow_keep_trying_s: float = Field(default=600.0, gt=0)
    # Requests one API process works on at once; more are shed with 503 and Retry-After instead
    # of queueing without bound (0: no limit). Health and metrics are never shed.
    api_max_in_flight: int = Field(default=512, ge=0)
    # How long an API request waits for one of its process's database connections before it is
    # shed with 503 `overloaded` and Retry-After (workers wait the pool's usual 30 s).
    api_database_wait_s: float = Field(default=5.0, gt=0, le=60)
    # Applications to a measure whose budget an API process has seen used up are refused in a
    # lane of their own (`api/refusal_lane.py`): at most this many at once (0, the default: no
    # lane; in the full rush 64 cut the refusals' p99 eightfold but left 23 requests unanswered
    # for 30 s, docs/benchmarks.md)…
    api_refusal_lane_max_in_flight: int = Field(default=0, ge=0)
    # …served from a pool of their own, this many connections per API process (as many more on
    # bursts), never queued behind the requests in flight.
    api_refusal_lane_pool_size: int = Field(default=4, ge=1, le=50)
    otel_exporter: str = "none"  # none | console | otlp
    otel_endpoint: str = ""  # OTLP/HTTP collector base URL, e.g. http://otel-collector:4318
    metrics_exporter: str = "none"  # none | prometheus | otlp | prometheus,otlp
    metrics_port: int = 0  # worker port for /healthz, /readyz, /metrics; 0: none
    temporal_metrics_bind: str = ""  # Temporal SDK metrics for Prometheus, e.g. 0.0.0.0:9465
    log_format: str = "text"  # text | json
    log_level: str = "INFO"
    worker_shutdown_grace_s: float = 20.0  # in-flight activities get this long on SIGTERM
    # Open workflows a worker keeps in memory (about 140 KiB each, docs/benchmarks.md); more
    # open ones live on the server and are replayed when they next have work.
    worker_cached_workflows: int = Field(default=DEFAULT_CACHED_WORKFLOWS, ge=1, le=100_000)
    attendance_grace_s: int = Field(default=7200, ge=0)  # after an event ends, still on time
    review_remind_after_s: int = Field(default=3 * 86400, gt=0)  # undecided review: remind staff
    review_decide_after_s: int = Field(default=14 * 86400, gt=0)  # then the default decision
    review_default_decision: str = Field(default="reject", pattern="^(approve|reject)$")
    stuck_attempts: int = Field(default=5, ge=1)  # more failed attempts than this: stuck
    stuck_age_s: int = Field(default=86400, gt=0)  # open longer than this: stuck
    # Reconciliation and settlement (SPEC §7): a day's statement is due by the end of this many
    # business days after it; the nightly run (a Temporal schedule, cron in JST) looks back this
    # many business days for overdue statements and open breaks.
    statement_deadline_business_days: int = Field(default=2, ge=0, le=20)
    reconciliation_lookback_business_days: int = Field(default=30, ge=1, le=250)
    reconciliation_cron: str = "0 2 * * *"
    reconciliation_schedule: bool = True  # the worker keeps the nightly schedule in Temporal

    @field_validator(
        "jpki_trust_anchors",
        "jpki_crl_sources",
        "jpki_user_authentication_policies",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Lists come from the environment comma-separated: `HUB_JPKI_TRUST_ANCHORS=a.pem,b.pem`."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("jpki_user_authentication_policies")
    @classmethod
    def _user_authentication_policies(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("HUB_JPKI_USER_AUTHENTICATION_POLICIES names no policy")
        for oid in value:
            if not jpki_profile.is_oid(oid):
                raise ValueError(f"{oid!r} is not an object identifier")
            if oid == jpki_profile.SIGNATURE_POLICY or jpki_profile.is_personal_data_field(oid):
                raise ValueError(f"{oid} marks the signature certificate, which cannot log in")
        return value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.env is not Environment.PRODUCTION:
            return self
        problems = []
        if self.operator_bootstrap_key.get_secret_value() == DEV_OPERATOR_KEY:
            problems.append("HUB_OPERATOR_BOOTSTRAP_KEY is the development default")
        if self.token_secret.get_secret_value() == DEV_SECRET:
            problems.append("HUB_TOKEN_SECRET is the development default")
        if self.qr_signing_key.get_secret_value() == DEV_QR_KEY:
            problems.append("HUB_QR_SIGNING_KEY is the development default")
        if self.console_session_secret.get_secret_value() == DEV_CONSOLE_SECRET:
            problems.append("HUB_CONSOLE_SESSION_SECRET is the development default")
        if self.audit_hmac_key.get_secret_value() == DEV_AUDIT_KEY:
            problems.append("HUB_AUDIT_HMAC_KEY is the development default")
        if DEV_PAYLOAD_KEYS.split(":")[1] in self.payload_keys.get_secret_value():
            problems.append("HUB_PAYLOAD_KEYS holds the development key")
        if self.orchestration != "temporal":
            problems.append("HUB_ORCHESTRATION must be temporal (direct is not durable)")
        if self.jpki_allow_test_hierarchy:
            problems.append("HUB_JPKI_ALLOW_TEST_HIERARCHY must be false")
        if not self.jpki_trust_anchors:
            problems.append("HUB_JPKI_TRUST_ANCHORS is empty")
        problems.extend(_production_anchor_problems(self.jpki_trust_anchors))
        if not self.jpki_crl_sources:
            problems.append("HUB_JPKI_CRL_SOURCES is empty")
        if not self.jpki_link_service_url:
            problems.append("HUB_JPKI_LINK_SERVICE_URL is empty")
        elif not self.jpki_link_service_url.startswith("https://"):
            problems.append("HUB_JPKI_LINK_SERVICE_URL must be an https:// URL")
        if not self.database_url:
            problems.append("HUB_DATABASE_URL must name the production database")
        if self.database_sslmode not in ("", "verify-full"):
            problems.append(
                "HUB_DATABASE_SSLMODE must be verify-full when set (the others do not check "
                "the server's certificate and name)"
            )
        if problems:
            raise ValueError("production settings refused: " + "; ".join(problems))
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL, with the TLS settings as libpq parameters for PostgreSQL (so the
        API, the workers and the migrations connect alike)."""
        if not self.database_url:
            return f"sqlite+aiosqlite:///{self.data_dir / 'hub.db'}"
        tls = {
            "sslmode": self.database_sslmode,
            "sslrootcert": str(self.database_sslrootcert or ""),
            "sslcert": str(self.database_sslcert or ""),
            "sslkey": str(self.database_sslkey or ""),
        }
        return with_query(self.database_url, {k: v for k, v in tls.items() if v})

    @property
    def temporal_tls_enabled(self) -> bool:
        return self.temporal_tls or any(
            (self.temporal_tls_ca, self.temporal_tls_client_cert, self.temporal_tls_server_name)
        )

    @property
    def review_policy(self) -> ReviewPolicy:
        return ReviewPolicy(
            remind_after=timedelta(seconds=self.review_remind_after_s),
            decide_after=timedelta(seconds=self.review_decide_after_s),
            default_decision=Decision(self.review_default_decision),
        )

    @property
    def jpki_tls(self) -> ClientTls:
        def text(path: Path | None) -> str | None:
            return str(path) if path else None

        return ClientTls(
            text(self.jpki_tls_ca_bundle),
            text(self.jpki_tls_client_cert),
            text(self.jpki_tls_client_key),
        )

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION


def with_query(url: str, parameters: dict[str, str]) -> str:
    """`url` with `parameters` added to its query (a PostgreSQL URL's libpq options)."""
    if not parameters or url.startswith("sqlite"):
        return url
    parsed = make_url(url)
    return parsed.update_query_dict(parameters).render_as_string(hide_password=False)


def _production_anchor_problems(paths: list[Path]) -> list[str]:
    """Every anchor file must hold J-LIS roots only: a root of the project's test hierarchy
    (`simulators/jpki.py`) among them is refused, however it got there."""
    problems = []
    for path in paths:
        try:
            roots = x509.load_pem_x509_certificates(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(f"HUB_JPKI_TRUST_ANCHORS {path} holds no readable PEM root ({exc})")
            continue
        if any(is_test_root(root) for root in roots):
            problems.append(
                f"HUB_JPKI_TRUST_ANCHORS {path} holds a root of the test JPKI hierarchy "
                "(subjectAltName O=JPKI-TEST), and production trusts J-LIS roots only"
            )
    return problems


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

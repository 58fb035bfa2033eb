"""Tables of the hub, one module per area. Points are integers; IDs are strings; times are
aware UTC.

Every module of this package is imported here so that `Base.metadata` knows every table (Alembic
and the tests rely on it); a new area adds its own module and needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil

from storage.models.base import NAMING, Base
from storage.models.catalog import (
    Measure,
    MeasurePaymentService,
    MeasureTarget,
    Municipality,
    PaymentProvider,
    PaymentService,
)
from storage.models.identity import AuthChallenge, CertificateBinding, MyKey, ResidentSession
from storage.models.keys import ApiKey
from storage.models.points import Application, Grant, LedgerEntry
from storage.models.receipts import PaymentServiceRegistration, Receipt, ReceiptEvent

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "NAMING",
    "ApiKey",
    "Application",
    "AuthChallenge",
    "Base",
    "CertificateBinding",
    "Grant",
    "LedgerEntry",
    "Measure",
    "MeasurePaymentService",
    "MeasureTarget",
    "Municipality",
    "MyKey",
    "PaymentProvider",
    "PaymentService",
    "PaymentServiceRegistration",
    "Receipt",
    "ReceiptEvent",
    "ResidentSession",
]

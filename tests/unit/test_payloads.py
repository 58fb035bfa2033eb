"""Payload conversion: one type adapter per type for the whole process, values round-trip."""

from dataclasses import dataclass
from datetime import UTC, datetime

from hub.payloads import SharedAdapterPayloadConverter, adapters_built
from workflows.messages import ApplicationKey


def test_converters_share_their_type_adapters() -> None:
    key = ApplicationKey(measure_id="m-1", mykey_id="K" * 20, application_id="app-1")
    first = SharedAdapterPayloadConverter()
    [payload] = first.to_payloads([key])
    assert first.from_payloads([payload], [ApplicationKey]) == [key]
    built = adapters_built()

    # A new workflow instance gets a new converter: it builds nothing again for a known type.
    second = SharedAdapterPayloadConverter()
    assert second.from_payloads([payload], [ApplicationKey]) == [key]
    assert adapters_built() == built

    # A type not seen before is built once, whichever converter meets it first.
    @dataclass
    class Unseen:
        note: str

    [unseen] = second.to_payloads([Unseen("初")])
    assert first.from_payloads([unseen], [Unseen]) == [Unseen("初")]
    assert second.from_payloads([unseen], [Unseen]) == [Unseen("初")]
    assert adapters_built() == built + 1


def test_datetimes_keep_their_zone() -> None:
    converter = SharedAdapterPayloadConverter()
    when = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    [payload] = converter.to_payloads([when])
    assert converter.from_payloads([payload], [datetime]) == [when]

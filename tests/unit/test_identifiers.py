from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.identifiers import (
    application_key,
    contains_my_number,
    is_municipality_code,
    is_mykey_id,
    municipality_check_digit,
    my_number_check_digit,
    new_mykey_id,
    random_hex,
    redact_my_numbers,
)
from storage.batches import new_batch_id
from storage.ids import new_id


@pytest.mark.parametrize("code", ["131016", "011002", "271004", "472018"])
def test_real_municipality_codes_pass_their_check_digit(code: str) -> None:
    assert is_municipality_code(code)


@pytest.mark.parametrize("code", ["131017", "13101", "1310160", "13101a", ""])
def test_wrong_or_malformed_municipality_codes_are_refused(code: str) -> None:
    assert not is_municipality_code(code)


@given(st.text(alphabet="0123456789", min_size=5, max_size=5))
def test_exactly_one_check_digit_fits_each_municipality_prefix(prefix: str) -> None:
    valid = [d for d in range(10) if is_municipality_code(prefix + str(d))]
    assert valid == [municipality_check_digit(prefix)]


def test_mykey_ids_are_eight_characters_of_digits_and_capitals() -> None:
    ids = {new_mykey_id() for _ in range(200)}
    assert all(is_mykey_id(i) for i in ids)
    assert len(ids) == 200
    assert not is_mykey_id("abcd1234")


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_a_my_number_with_its_check_digit_is_found_in_any_spelling(first: str) -> None:
    number = first + str(my_number_check_digit(first))
    wide = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
    hyphen = f"{wide[:4]}－{wide[4:8]}－{wide[8:]}"
    for text in (number, f"番号は{spaced}です", f"note: {hyphen}"):
        assert contains_my_number(text)
        assert number not in redact_my_numbers(text)


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_a_wrong_check_digit_is_not_a_my_number(first: str) -> None:
    wrong = (my_number_check_digit(first) + 1) % 10
    assert not contains_my_number(first + str(wrong))


def test_application_keys_are_stable_and_do_not_reveal_the_mykey_id() -> None:
    a = application_key("msr_1", "ABCD1234", b"secret")
    assert a == application_key("msr_1", "ABCD1234", b"secret")
    assert a != application_key("msr_2", "ABCD1234", b"secret")
    assert a != application_key("msr_1", "ABCD1234", b"other")
    assert "ABCD1234" not in a


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.sampled_from(["key", "app"]))
def test_a_hub_identifier_whose_hex_reads_as_a_my_number_stays_whole(
    first: str, prefix: str
) -> None:
    number = first + str(my_number_check_digit(first))
    identifier = f"{prefix}_ab{number}cdef01"
    for text in (
        f"support:{identifier}",
        f"rev_{identifier}",
        f"{identifier}-g1-r0",
        f"application-msr_0123456789abcdef0123-ab{number}cdef01",
    ):
        assert redact_my_numbers(text) == text
        assert not contains_my_number(text)
    # The same digits beside an identifier, or in one that is not exactly a hub identifier,
    # are still a My Number.
    assert redact_my_numbers(f"{identifier} {number}") == f"{identifier} [redacted]"
    for text in (f"{identifier}{number}", f"key_{number}"):
        assert contains_my_number(text)
        assert number not in redact_my_numbers(text).removeprefix(f"{prefix}_ab")


def test_random_identifiers_never_read_as_a_my_number() -> None:
    # One draw in a few hundred of twenty hex digits would; thirty thousand draws see many.
    drawn = [random_hex(10) for _ in range(30_000)]
    assert not [d for d in drawn if contains_my_number(d)]
    assert len(set(drawn)) == len(drawn)


def test_row_batch_and_request_identifiers_are_drawn_without_my_numbers() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    for _ in range(3_000):
        # The hex alone: the identifier as a whole is never scanned.
        assert not contains_my_number(new_id("key").removeprefix("key_"))
        assert not contains_my_number(new_batch_id(at))

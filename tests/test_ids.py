"""Ids: our Crockford encoding equals python-ulid's, and runs of ids sort in the order given."""

from __future__ import annotations

import pytest
from ulid import ULID

from billabled.kit.ids import is_valid_id, new_id, new_ids


def test_new_id_is_the_lower_case_ulid_with_its_prefix() -> None:
    for _ in range(2000):
        value = new_id("te")
        assert is_valid_id(value, "te")
        ULID.from_str(value.removeprefix("te_").upper())  # parses as a ULID


def test_encoding_matches_python_ulid_at_the_edges() -> None:
    from billabled.kit.ids import _encode

    for value in (0, 1, 1023, 2**80 - 1, 2**80, 2**127, 2**128 - 1, int(ULID())):
        assert _encode(value) == str(ULID.from_int(value)).lower()


def test_a_run_of_ids_is_unique_sorted_and_consecutive() -> None:
    ids = new_ids("evt", 500)
    assert len(set(ids)) == 500
    assert ids == sorted(ids)
    assert all(is_valid_id(value, "evt") for value in ids)
    numbers = [int(ULID.from_str(value.removeprefix("evt_").upper())) for value in ids]
    assert numbers == list(range(numbers[0], numbers[0] + 500))


def test_runs_refuse_unknown_prefixes_and_absurd_sizes() -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_ids("nope", 2)
    with pytest.raises(ValueError, match="too many"):
        new_ids("te", 1 << 20)


def test_runs_made_in_the_same_millisecond_never_share_an_id() -> None:
    ids = [value for _ in range(2000) for value in new_ids("te", 50)]
    assert len(set(ids)) == len(ids)

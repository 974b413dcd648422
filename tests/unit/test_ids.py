"""Time-ordered ids (UUID version 7)."""

import uuid

from orders_write.ids import uuid7


def test_uuid7_is_a_valid_version_7_uuid():
    value = uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_ids_made_later_sort_later():
    ids = [uuid7(unix_ms=1_700_000_000_000 + n, random_bits=(7919 * n) % 2**74) for n in range(50)]
    assert sorted(ids) == ids
    assert sorted(str(value) for value in ids) == [str(value) for value in ids]


def test_the_timestamp_leads_and_the_random_bits_follow():
    value = uuid7(unix_ms=0x0123456789AB, random_bits=2**74 - 1)
    assert value.hex.startswith("0123456789ab7fff")
    assert uuid7(unix_ms=1, random_bits=5) != uuid7(unix_ms=1, random_bits=6)

"""Every event shape ever written still decodes: the golden samples (only ever added to)."""

import json
from pathlib import Path

import pytest

from orders_write.events import EVENT_TYPES, payload
from orders_write.upcasting import decode, missing_upcasters

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "events.jsonl"
SAMPLES = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]


def sample_id(sample):
    return f"{sample['type']}-v{sample['schema_version']}"


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_id)
def test_a_golden_sample_decodes_to_exactly_the_current_shape(sample):
    event_type, data = decode(sample["type"], sample["schema_version"], sample["data"])

    # The current class takes every field and needs no other: nothing lost, nothing extra.
    event = EVENT_TYPES[event_type](**data)
    assert payload(event) == data
    # What the sample said is still said.
    assert {key: data[key] for key in sample["data"]} == sample["data"]


def test_there_is_a_sample_of_every_type_and_version_ever_written():
    written = {
        (name, version)
        for name, cls in EVENT_TYPES.items()
        for version in range(1, cls.schema_version + 1)
    }

    assert {(sample["type"], sample["schema_version"]) for sample in SAMPLES} >= written


def test_every_old_version_has_an_upcaster_to_the_next():
    assert missing_upcasters() == []


def test_an_order_placed_before_currencies_reads_as_dollars():
    [v1] = [s for s in SAMPLES if (s["type"], s["schema_version"]) == ("OrderPlaced", 1)]

    assert decode("OrderPlaced", 1, v1["data"])[1]["currency"] == "USD"

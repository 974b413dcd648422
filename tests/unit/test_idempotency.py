"""What makes two requests the same request under one Idempotency-Key, without a database."""

import uuid

import pytest

from orders_write.idempotency import MAX_KEY_LENGTH, InvalidKey, parse_key, request_fingerprint
from orders_write.models import IdempotencyKey

BASE = {
    "method": "POST",
    "path": "/orders",
    "body": {"customer_id": 1, "items": [{"product_id": 1, "quantity": 2}], "note": "é"},
    "actor_id": 1,
}


def fingerprint(**changes):
    return request_fingerprint(**{**BASE, **changes})


def test_a_fingerprint_fits_the_column_it_is_stored_in():
    assert len(fingerprint()) == IdempotencyKey._meta.get_field("fingerprint").max_length


@pytest.mark.parametrize(
    "changes",
    [
        # The body is compared as canonical JSON: key order, at any depth, does not count.
        {"body": {"note": "é", "items": [{"quantity": 2, "product_id": 1}], "customer_id": 1}},
        # Values that JSON writes the same way are the same value.
        {"body": {**BASE["body"], "note": "\u00e9"}},
        # Both spellings of a path reach the same endpoint; the method is case-insensitive.
        {"path": "/orders/"},
        {"method": "post"},
    ],
    ids=["key-order", "unicode-escape", "trailing-slash", "method-case"],
)
def test_what_is_not_part_of_the_fingerprint(changes):
    assert fingerprint(**changes) == fingerprint()


def test_a_uuid_in_the_body_is_its_json_string():
    order_id = uuid.UUID("0190b2b8-0000-7000-8000-000000000001")
    assert fingerprint(body={"id": order_id}) == fingerprint(body={"id": str(order_id)})


@pytest.mark.parametrize(
    "changes",
    [
        {"method": "PUT"},
        {"path": "/orders/x/approve"},
        {"actor_id": 2},
        {"body": {**BASE["body"], "customer_id": 2}},
        # Types count: "1" is not 1, true is not 1.
        {"body": {**BASE["body"], "customer_id": "1"}},
        {"body": {**BASE["body"], "customer_id": True}},
        {"body": {**BASE["body"], "items": [{"product_id": 1, "quantity": 3}]}},
        # A field added, even empty, is another request.
        {"body": {**BASE["body"], "extra": None}},
    ],
    ids=[
        "method",
        "path",
        "actor",
        "value",
        "string-for-number",
        "bool-for-number",
        "list-content",
        "extra-field",
    ],
)
def test_what_is_part_of_the_fingerprint(changes):
    assert fingerprint(**changes) != fingerprint()


def test_lists_keep_their_order():
    # Only object keys are sorted: the same lines in another order are another request.
    first, second = {"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}
    assert fingerprint(body={"items": [first, second]}) != fingerprint(
        body={"items": [second, first]}
    )


@pytest.mark.parametrize("key", ["a", "0190b2b8-0000-7000-8000-000000000001", "~" * MAX_KEY_LENGTH])
def test_a_well_formed_key_is_returned_as_is(key):
    assert parse_key(key) == key


def test_no_header_is_no_key():
    assert parse_key(None) is None


@pytest.mark.parametrize(
    "key", ["", " ", "has space", "é", "tab\t", "x" * (MAX_KEY_LENGTH + 1)], ids=repr
)
def test_a_malformed_key_is_refused(key):
    with pytest.raises(InvalidKey):
        parse_key(key)

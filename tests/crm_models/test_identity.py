from __future__ import annotations

import pytest

from crm_models.identity import identity_metadata, sign, verified_customer_id

SECRET = "test-secret"


def test_signed_metadata_verifies_to_the_customer() -> None:
    metadata = identity_metadata(12347, SECRET)

    assert verified_customer_id(metadata, SECRET) == 12347


@pytest.mark.parametrize(
    "metadata",
    [
        None,  # no metadata at all (anonymous visitor)
        {},  # empty metadata
        {"customer_id": "12347"},  # an id without a signature
        {"customer_id": "12348", "customer_sig": sign(12347, SECRET)},  # swapped id
        {"customer_id": "12347", "customer_sig": sign(12347, "another-secret")},
        {"customer_id": "abc", "customer_sig": sign("abc", SECRET)},  # not a number
        {"customer_id": "12347", "customer_sig": 5},  # signature of the wrong type
    ],
)
def test_unverifiable_metadata_gives_no_customer(metadata) -> None:
    assert verified_customer_id(metadata, SECRET) is None

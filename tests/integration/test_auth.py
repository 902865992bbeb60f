"""Keys: an unknown or missing key is refused with 401 and nothing reaches Kafka."""

import pytest

from module_helpers import json_error


@pytest.mark.parametrize("key", ["px_test_not_a_real_key_0000", ""],
                         ids=["unknown-key", "no-key"])
def test_bad_key_gets_401_and_nothing_reaches_kafka(px, key):
    anon = "anon_auth_check"
    bad = px.event("bad_key_event", anonymous_id=anon)
    r = px.post_batch([bad], key=key)
    json_error(r, 401)

    # a good request for the same visitor (same partition) afterwards: once
    # it is in Kafka, a message produced for the refused one would be too
    good = px.event("good_key_event", anonymous_id=anon)
    r = px.post_batch([good])
    assert r.status_code == 202, r.text
    px.wait_until(lambda: px.kafka_payloads_with(good["event_id"]), timeout=15,
                  desc="the accepted event in px.events.raw")
    assert px.kafka_payloads_with(bad["event_id"]) == []
    assert px.kafka_payloads_with(bad["event_id"], topic="px.events.dlq") == []


def test_key_in_x_px_api_key_header_is_accepted(px):
    r = px.post_batch([px.event()], auth="header")
    assert r.status_code == 202, r.text

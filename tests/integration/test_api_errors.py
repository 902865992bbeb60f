"""Envelope and method errors: JSON bodies with the status codes of docs/api.md."""

from module_helpers import json_error


def test_malformed_json_gets_400(px):
    json_error(px.post_batch(body=b'{"events": [ {"event": '), 400)


def test_envelope_without_events_gets_400(px):
    json_error(px.post_batch(body=b'{"sent_at": "2024-01-01T00:00:00Z"}'), 400)


def test_get_on_batch_endpoint_gets_405(px):
    r = px.get("/api/v1/events/batch",
               headers={"Authorization": "Bearer " + px.key})
    json_error(r, 405)


def test_unsupported_encoding_gets_415(px):
    r = px.post_batch([px.event()], headers={"Content-Encoding": "br"})
    json_error(r, 415)

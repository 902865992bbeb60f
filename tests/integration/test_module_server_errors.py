"""Errors nginx answers by itself before a location is chosen (a request
header or URI too large) are JSON like the rest of the API in a server with
`px_json_errors on;` (the shipped configurations set it)."""

import pytest

from module_helpers import DEMO_LINE, json_error, start_nginx, stop_nginx


@pytest.fixture(scope="module")
def json_nginx(stack):
    n = start_nginx(stack, "jsonerrors", [DEMO_LINE],
                    server_extra="px_json_errors on;")
    yield n
    stop_nginx(stack, n)


def test_8k_authorization_header_gets_400_json(px, json_nginx):
    r = px.post_batch([px.event()], base=json_nginx.url,
                      headers={"Authorization": "Bearer " + "k" * 9000})
    body = json_error(r, 400, "bad_request")
    assert "400" in body["message"], body


def test_long_uri_gets_414_json(px, json_nginx):
    r = px.get("/api/v1/events/batch?x=" + "a" * 9000, base=json_nginx.url)
    json_error(r, 414, "uri_too_long")


def test_other_locations_of_the_server_answer_json(px, json_nginx):
    r = px.get("/no/such/page", base=json_nginx.url)
    json_error(r, 404, "not_found")


def test_without_the_directive_nginx_keeps_its_pages(px, stack):
    n = start_nginx(stack, "htmlerrors", [DEMO_LINE])
    try:
        r = px.get("/api/v1/events/batch?x=" + "a" * 9000, base=n.url)
        assert r.status_code == 414
        assert r.headers.get("Content-Type", "").startswith("text/html"), r.headers
    finally:
        stop_nginx(stack, n)

"""Health and status endpoints answer JSON."""


def test_health_answers_200_json(px):
    r = px.get("/health")
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert isinstance(r.json(), dict)


def test_queue_status_answers_json(px):
    r = px.get("/api/v1/events/queue/status")
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), dict)

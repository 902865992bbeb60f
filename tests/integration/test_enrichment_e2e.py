"""Every enriched column, read back end to end: an event through the real
nginx (the client's address from X-Forwarded-For, which the stack trusts
from loopback) and worker into ClickHouse: user agent -> browser, OS and
device; MaxMind's test address -> country and city; the page's UTM and
click id; the referrer's type; and what PX_IP_MODE stores of the address."""

import pytest

LONDON = "81.2.69.142"           # GeoIP2-City-Test: London, GB
CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
          "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
          "Mobile/15E148 Safari/604.1")
COLUMNS = ("event_id, ip, country, city, browser, os, device_type, "
           "utm_source, utm_medium, utm_campaign, click_id_type, click_id, "
           "referrer_domain, referrer_type, page_path")


def stored(px, ua, ip=LONDON, url="https://shop.example/p?utm_source=news"
           "&utm_medium=email&utm_campaign=spring&gclid=g123",
           referrer="https://www.google.co.uk/search?q=px"):
    ev = px.event("e2e_enriched")
    ev["context"] = {"page": {"url": url, "path": "/p", "referrer": referrer}}
    r = px.post_batch([ev], headers={"User-Agent": ua, "X-Forwarded-For": ip})
    assert r.status_code == 202, r.text
    rows = px.wait_until(lambda: px.rows_for([ev["event_id"]], columns=COLUMNS),
                         timeout=30, desc="the event stored")
    return rows[0]


def test_desktop_chrome_from_london_via_a_newsletter(px):
    row = stored(px, CHROME_WIN)
    assert (row["browser"], row["os"], row["device_type"]) == ("Chrome", "Windows", "desktop"), row
    assert (row["country"], row["city"]) == ("GB", "London"), row
    assert row["ip"] == LONDON, row
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == \
        ("news", "email", "spring"), row
    assert (row["click_id_type"], row["click_id"]) == ("gclid", "g123"), row
    assert row["referrer_domain"].endswith("google.co.uk") and row["referrer_type"] == "search", row
    assert row["page_path"] == "/p", row


def test_iphone_without_campaign(px):
    row = stored(px, IPHONE, url="https://shop.example/p", referrer="")
    assert (row["browser"], row["os"], row["device_type"]) == ("Mobile Safari", "iOS", "mobile"), row
    assert row["utm_source"] == "" and row["click_id"] == "", row
    assert row["referrer_type"] in ("direct", ""), row


@pytest.fixture
def ip_mode(stack):
    w = stack.worker

    def restart(mode):
        w.stop()
        w.extra_env = {"PX_IP_MODE": mode}
        w.start()
        w.wait_healthy()

    yield restart
    w.stop()
    w.extra_env = {}
    w.start()
    w.wait_healthy()


@pytest.mark.parametrize("mode,stored_ip", [("anonymize", "81.2.69.0"), ("drop", "")])
def test_ip_mode_keeps_geo(px, ip_mode, mode, stored_ip):
    ip_mode(mode)
    row = stored(px, CHROME_WIN)
    assert row["ip"] == stored_ip, row
    # geo is looked up from the full address before it is cut
    assert (row["country"], row["city"]) == ("GB", "London"), row

"""px-worker takes new GeoIP databases without a restart: on SIGHUP, and by
itself when the files of PX_GEOIP_DIR change (PX_GEOIP_WATCH seconds), the
way geoipupdate replaces them (a new file renamed into place). A broken
update keeps the old data and the worker running.

Runs on the session stack: the main worker is restarted with a GeoIP
directory of the test's own, and restored afterwards.
"""

import os
import shutil
import signal

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDATA = os.path.join(REPO, "tests", "data", "geoip")
LONDON = "81.2.69.142"     # GB in GeoIP2-City-Test.mmdb


@pytest.fixture
def geo_dir(stack, tmp_path):
    """A GeoIP directory of this test's, and a function that restarts the
    main worker on it with more settings."""
    w = stack.worker

    def restart(**env):
        w.stop()
        w.extra_env = dict(env, PX_GEOIP_DIR=str(tmp_path))
        w.start()
        w.wait_healthy()
        return w

    yield tmp_path, restart
    w.stop()
    w.extra_env = {}
    w.start()
    w.wait_healthy()


def install(d, name, as_name):
    """Copy a test database in as geoipupdate does: temp file, rename."""
    tmp = d / (".%s.tmp" % as_name)
    shutil.copyfile(os.path.join(TESTDATA, name), tmp)
    os.rename(tmp, d / as_name)


def stored_country(px, label):
    """Send one event from London; the country it is stored with."""
    ev = px.event("geo_reload_" + label)
    r = px.post_batch([ev], headers={"X-Forwarded-For": LONDON})
    assert r.status_code == 202, r.text
    rows = px.wait_until(
        lambda: px.rows_for([ev["event_id"]], columns="event_id, country"),
        timeout=30, desc="event %s stored (worker log:\n%s)"
        % (label, px.log("worker.log")))
    return rows[0]["country"]


def log_count(px, text):
    return px.log("worker.log", lines=400).count(text)


def test_sighup_reopens_the_geoip_databases(px, geo_dir):
    d, restart = geo_dir
    w = restart(PX_GEOIP_WATCH="0")
    assert stored_country(px, "before") == ""

    install(d, "GeoIP2-City-Test.mmdb", "GeoLite2-City.mmdb")
    # no watch: nothing changes until the signal
    assert stored_country(px, "no_signal") == ""

    before = log_count(px, 'msg="reloaded"')
    os.kill(w.pid(), signal.SIGHUP)
    px.wait_until(lambda: log_count(px, 'msg="reloaded"') > before,
                  timeout=20, desc="the worker logs its reload")
    assert stored_country(px, "after") == "GB"


def test_changed_files_are_reopened_without_a_signal(px, geo_dir):
    d, restart = geo_dir
    w = restart(PX_GEOIP_WATCH="1")
    pid = w.pid()
    assert stored_country(px, "empty_dir") == ""

    opened = log_count(px, "GeoIP files changed: reopened")
    install(d, "GeoIP2-City-Test.mmdb", "GeoLite2-City.mmdb")
    px.wait_until(lambda: log_count(px, "GeoIP files changed: reopened") > opened,
                  timeout=20, desc="the worker sees the new file")
    assert stored_country(px, "watched") == "GB"

    # a corrupt file under a name tried first: logged, old data kept
    refused = log_count(px, "GeoIP files changed but cannot be used")
    install(d, "GeoIP2-City-Test-Invalid-Node-Count.mmdb", "GeoIP2-City.mmdb")
    px.wait_until(lambda: log_count(px, "GeoIP files changed but cannot be used")
                  > refused, timeout=20, desc="the worker refuses the broken file")
    assert stored_country(px, "broken_update") == "GB"
    assert w.pid() == pid, "the worker restarted"

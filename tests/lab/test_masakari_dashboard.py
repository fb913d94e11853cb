"""Masakari's Horizon plugin (role masakari_dashboard) on the lab's real Horizon (role lab_horizon).

`make lab` installs Debian's Horizon on every controller (playbooks/lab_cloud.yml), then playbooks/masakari.yml puts the
plugin into it. Through the internal VIP (HAProxy's `horizon` entry) and a real HTTP session, as a browser would:

- a request without a session for the plugin's segments page is redirected to Horizon's login page;
- the lab's admin logs in through Horizon's login form (CSRF token, hidden region field, no domain field: one region,
  no multi-domain support); Horizon authenticates against Keystone and sets a session cookie;
- the Instance-ha dashboard's segments page lists `lab-segment` (from masakari_segments), its hosts page lists the
  segment's hosts (every compute) and its notifications page answers with the notifications table, each without an
  error message: Horizon loaded the plugin, the plugin's policy lets the admin in, and the plugin reached Masakari's
  API through the catalog;
- that session is valid on every controller's Horizon (sessions live in the controllers' memcached, the same servers
  on every controller): each one serves the segments page with `lab-segment` when asked directly on its management
  address (with a controller's own cache instead, it redirected to the login page).

The seconds of the login and of each page are printed. Runs in `make test-full` only, or when HASTACK_LAB_TESTS=1.
"""

import html.parser
import os
import time
import urllib.parse

import pytest
import yaml
from labcloud import CLOUD, INVENTORY, ROOT, SEGMENT, computes, hosts

WEBROOT = "/horizon"  # Debian's default site for Horizon (openstack-dashboard-alias-only.conf)
DASHBOARD = f"{WEBROOT}/masakaridashboard"  # the plugin's enabled file: DASHBOARD = 'masakaridashboard'
LOGIN = f"{WEBROOT}/auth/login/"
TIMEOUT = 60

pytestmark = pytest.mark.skipif(
    os.environ.get("HASTACK_LAB_TESTS") != "1", reason="lab Horizon test: run by `make test-full`"
)


def _group_vars():
    return yaml.safe_load((ROOT / INVENTORY / "group_vars" / "all.yml").read_text())


def _vip_url():
    return f"http://{_group_vars()['hastack_internal_vip']}"


def _controller_urls():
    """Each controller's Horizon on its management address, by inventory name."""
    inventory = yaml.safe_load((ROOT / INVENTORY / "hosts.yml").read_text())["all"]["children"]
    return {name: f"http://{inventory['controllers']['hosts'][name]['hastack_mgmt_address']}"
            for name in hosts("controllers")}


class _Page(html.parser.HTMLParser):
    """What the tests read from a Horizon page: the forms' fields, the data tables' rows and the error messages."""

    def __init__(self, text):
        super().__init__()
        self.forms = []  # [{"action": ..., "fields": {name: value}}]
        self.rows = {}  # table id -> [(data-display, data-object-id)]
        self.errors = []  # texts of Horizon's error messages
        self._table = None
        self._error_depth = 0
        self._depth = 0
        self.feed(text)
        self.errors = [" ".join(error.split()) for error in self.errors]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._depth += 1
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
        elif tag == "table" and "datatable" in (attrs.get("class") or ""):
            self._table = attrs.get("id")
            self.rows.setdefault(self._table, [])
        elif tag == "tr" and self._table and "data-object-id" in attrs:
            self.rows[self._table].append((attrs.get("data-display"), attrs["data-object-id"]))
        # Horizon's error messages (horizon/_messages.html) and form errors (the login form's "Invalid credentials.")
        # are <div class="alert alert-danger ...">; every page also carries one for browsers without JavaScript.
        classes = set((attrs.get("class") or "").split())
        if tag == "div" and "alert-danger" in classes and "javascript-disabled" not in classes:
            self._error_depth = self._depth
            self.errors.append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        if self._error_depth and self._depth == self._error_depth and tag == "div":
            self._error_depth = 0
        self._depth -= 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._depth -= 1

    def handle_data(self, data):
        if self._error_depth:
            self.errors[-1] += f" {data}"


def _get(session, url, **kwargs):
    started = time.monotonic()
    response = session.get(url, allow_redirects=False, timeout=TIMEOUT, **kwargs)
    return response, time.monotonic() - started


def _plugin_page(session, base, panel, **kwargs):
    """A panel of the plugin, as the logged-in user: 200, not a redirect to the login page, no error message."""
    response, seconds = _get(session, f"{base}{DASHBOARD}/{panel}/", **kwargs)
    assert response.status_code == 200, (panel, response.status_code, response.headers.get("Location"))
    page = _Page(response.text)
    assert not page.errors, f"{panel}: Horizon shows errors: {page.errors}"
    return page, seconds


@pytest.fixture(scope="module")
def session():
    """A Horizon session of the lab's admin, logged in through the VIP with Horizon's own login form."""
    import requests  # from the project's venv

    base = _vip_url()
    password = (ROOT / INVENTORY / ".secrets" / "openstack_admin").read_text().strip()
    browser = requests.Session()
    started = time.monotonic()
    response = browser.get(f"{base}{LOGIN}", timeout=TIMEOUT)
    assert response.status_code == 200, response.status_code
    form = next((form for form in _Page(response.text).forms if "password" in form["fields"]), None)
    assert form is not None, "no login form on Horizon's login page"
    fields = form["fields"]
    assert fields.get("csrfmiddlewaretoken"), f"the login form has no CSRF token: {sorted(fields)}"
    fields.update(username="admin", password=password)
    if "domain" in fields:  # only with OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT
        fields["domain"] = "Default"
    action = urllib.parse.urljoin(response.url, form["action"] or LOGIN)
    # Django checks the Referer of POSTs over HTTPS only; a browser sends it anyway.
    response = browser.post(action, data=fields, headers={"Referer": response.url}, allow_redirects=False,
                            timeout=TIMEOUT)
    seconds = time.monotonic() - started
    assert response.status_code == 302, (response.status_code, _Page(response.text).errors)
    assert not urllib.parse.urlsplit(response.headers["Location"]).path.startswith(LOGIN), response.headers
    assert browser.cookies.get("sessionid"), f"no session cookie after login: {browser.cookies.keys()}"
    print(f"\nHorizon login as admin through {base}: {seconds:.2f} s")
    yield browser, base
    browser.get(f"{base}{WEBROOT}/auth/logout/", timeout=TIMEOUT)


@pytest.fixture(scope="module")
def admin():
    import openstack  # from the project's venv

    return openstack.connect(cloud=CLOUD)


def test_without_a_session_the_dashboard_redirects_to_the_login_page():
    import requests  # from the project's venv

    segments = f"{DASHBOARD}/segments/"
    response = _get(requests.Session(), f"{_vip_url()}{segments}")[0]
    assert response.status_code == 302, response.status_code
    location = urllib.parse.urlsplit(urllib.parse.urljoin(f"{_vip_url()}{segments}", response.headers["Location"]))
    assert location.path == LOGIN, response.headers["Location"]
    assert urllib.parse.parse_qs(location.query).get("next") == [segments], response.headers["Location"]


def test_segments_page_lists_the_lab_segment(session, admin):
    browser, base = session
    page, seconds = _plugin_page(browser, base, "segments")
    segment = next(item for item in admin.instance_ha.segments() if item.name == SEGMENT)
    print(f"\nsegments page: {seconds:.2f} s, rows {page.rows.get('failover_segment')}")
    assert (SEGMENT, segment.uuid) in page.rows.get("failover_segment", []), page.rows


def test_hosts_page_lists_every_compute_of_the_segment(session, admin):
    browser, base = session
    page, seconds = _plugin_page(browser, base, "hosts")
    segment = next(item for item in admin.instance_ha.segments() if item.name == SEGMENT)
    print(f"\nhosts page: {seconds:.2f} s, rows {page.rows.get('host')}")
    # A host's row is "<host uuid>,<segment uuid>".
    in_segment = sorted(name for name, row in page.rows.get("host", []) if row.endswith(f",{segment.uuid}"))
    assert in_segment == sorted(computes()), page.rows


def test_notifications_page_answers(session, admin):
    browser, base = session
    before = {item.notification_uuid for item in admin.instance_ha.notifications()}
    page, seconds = _plugin_page(browser, base, "notifications")
    after = {item.notification_uuid for item in admin.instance_ha.notifications()}
    rows = {row for _display, row in page.rows.get("notifications", [])}
    print(f"\nnotifications page: {seconds:.2f} s, {len(rows)} rows, {len(before)} notifications in the API")
    assert "notifications" in page.rows, f"no notifications table: {sorted(page.rows)}"
    assert rows <= after, rows - after
    if before:  # the newest page of them at least
        assert rows, f"the API lists {len(before)} notifications, the page none"


def test_every_controller_serves_the_session(session):
    import requests  # from the project's venv

    browser = session[0]
    cookies = {"sessionid": browser.cookies["sessionid"]}
    for name, url in _controller_urls().items():
        page, seconds = _plugin_page(requests.Session(), url, "segments", cookies=cookies)
        print(f"\n{name}: segments page with the session from the VIP in {seconds:.2f} s")
        assert SEGMENT in [display for display, _row in page.rows.get("failover_segment", [])], (name, page.rows)

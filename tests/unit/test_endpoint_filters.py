"""The endpoint URL filters: quoting, IPv6, vhosts and refusal of incomplete input."""

import importlib.util
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from ansible.errors import AnsibleFilterError

_spec = importlib.util.spec_from_file_location(
    "hastack_endpoints", Path(__file__).resolve().parents[2] / "plugins" / "filter" / "endpoints.py"
)
endpoints = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(endpoints)


def test_database_url_plain():
    assert (
        endpoints.database_url("nova", "nova", "s3cret", "10.20.0.10")
        == "mysql+pymysql://nova:s3cret@10.20.0.10:3306/nova"
    )


def test_database_url_quotes_password_so_it_round_trips():
    password = "p@ss:w/o%rd#?&"
    url = endpoints.database_url("masakari", "masakari", password, "10.20.0.10", port=3307)
    parts = urlsplit(url)
    assert unquote(parts.password) == password
    assert parts.hostname == "10.20.0.10"
    assert parts.port == 3307
    assert parts.path == "/masakari"


def test_database_url_ipv6_and_query():
    url = endpoints.database_url("keystone", "keystone", "x", "fd00::10", query={"charset": "utf8"})
    assert url == "mysql+pymysql://keystone:x@[fd00::10]:3306/keystone?charset=utf8"


@pytest.mark.parametrize(
    "args",
    [("", "u", "p", "h"), ("db", "", "p", "h"), ("db", "u", "", "h"), ("db", "u", None, "h"), ("db", "u", "p", "")],
)
def test_database_url_refuses_incomplete_input(args):
    with pytest.raises(AnsibleFilterError):
        endpoints.database_url(*args)


def test_transport_url_lists_every_broker_in_order():
    url = endpoints.transport_url(["10.0.0.21", "10.0.0.22", "10.0.0.23"], "openstack", "pw", vhost="openstack")
    assert url == "rabbit://openstack:pw@10.0.0.21:5672,openstack:pw@10.0.0.22:5672,openstack:pw@10.0.0.23:5672/openstack"


@pytest.mark.parametrize(("vhost", "path"), [("/", ""), ("", ""), ("/openstack", "openstack"), ("a/b", "a%2Fb")])
def test_transport_url_vhost_path(vhost, path):
    assert endpoints.transport_url(["h"], "u", "p", vhost=vhost) == f"rabbit://u:p@h:5672/{path}"


def test_transport_url_quotes_credentials_and_brackets_ipv6():
    url = endpoints.transport_url(["fd00::21"], "open stack", "a:b@c", port=5671)
    assert url == "rabbit://open%20stack:a%3Ab%40c@[fd00::21]:5671/"


@pytest.mark.parametrize("hosts", [[], None])
def test_transport_url_needs_brokers(hosts):
    with pytest.raises(AnsibleFilterError):
        endpoints.transport_url(hosts, "u", "p")


def test_filters_are_registered():
    assert set(endpoints.FilterModule().filters()) == {"database_url", "transport_url"}

# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""Build the connection URLs OpenStack services use, from the collection's shared endpoint variables."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from ansible.errors import AnsibleFilterError


def _netloc_host(host):
    host = str(host)
    if not host:
        raise AnsibleFilterError("an endpoint host is empty")
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _credentials(user, password):
    if not user or password is None or password == "":
        raise AnsibleFilterError("a user and a non-empty password are required")
    return f"{quote(str(user), safe='')}:{quote(str(password), safe='')}"


def database_url(database, user, password, host, port=3306, driver="mysql+pymysql", query=None):
    """SQLAlchemy URL of one service database through the database VIP: driver://user:pw@host:port/db."""
    if not database:
        raise AnsibleFilterError("database_url: the database name is empty")
    url = f"{driver}://{_credentials(user, password)}@{_netloc_host(host)}:{int(port)}/{quote(str(database), safe='')}"
    if query:
        url += "?" + urlencode(sorted(dict(query).items()))
    return url


def transport_url(hosts, user, password, vhost="/", port=5672, scheme="rabbit"):
    """oslo.messaging transport_url listing every broker: rabbit://u:p@h1:5672,u:p@h2:5672/vhost."""
    if isinstance(hosts, str):
        hosts = [hosts]
    hosts = list(hosts or [])
    if not hosts:
        raise AnsibleFilterError("transport_url: no broker hosts")
    credentials = _credentials(user, password)
    netlocs = ",".join(f"{credentials}@{_netloc_host(host)}:{int(port)}" for host in hosts)
    # oslo.messaging reads the vhost from the URL path; "/" (RabbitMQ's default vhost) is an empty path.
    path = "" if vhost in ("/", "", None) else quote(str(vhost).lstrip("/"), safe="")
    return f"{scheme}://{netlocs}/{path}"


class FilterModule:
    """Endpoint URL filters."""

    def filters(self):
        return {"database_url": database_url, "transport_url": transport_url}

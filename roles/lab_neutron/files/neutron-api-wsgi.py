"""neutron-api under uWSGI, with the ORM mappers configured before the first request (lab only).

Neutron 26 (Debian 13) reads Port.port_forwardings at the start of every port query. That attribute is a
backref declared by the port-forwarding model, which only the port_forwarding service plugin imports, and it only
exists once SQLAlchemy has configured its mappers. Without that plugin (this lab has no L3) or in a fresh uWSGI
worker whose first request is a port query (Nova's, on every build and evacuation) the query fails with HTTP 500.
Importing the model and configuring the mappers once the application is loaded avoids both.
"""

import runpy

import neutron.db.models.port_forwarding  # noqa: F401  pylint: disable=unused-import
from sqlalchemy import orm

application = runpy.run_path("/usr/bin/neutron-api", run_name="neutron_api_wsgi")["application"]
orm.configure_mappers()

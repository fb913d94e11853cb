# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""Connection options shared by every OpenStack module of hastack.openstack.

The options, their names, aliases and meaning are those of openstack.cloud's doc fragment
(openstack.cloud.openstack), so a cloud definition written for openstack.cloud works unchanged here.
The wait/timeout pair of openstack.cloud is left out: no module of this collection waits for anything.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - The cloud to talk to. A string names a cloud of C(clouds.yaml); a dictionary is a complete cloud
        configuration, as one entry of C(clouds.yaml) would be.
      - Not needed when O(auth) is given or when the C(OS_*) environment variables describe the cloud.
      - A dictionary excludes O(auth), O(auth_type), O(region_name), O(validate_certs), O(ca_cert),
        O(client_cert), O(client_key), O(api_timeout) and a non-default O(interface).
    type: raw
  auth:
    description:
      - Authentication data for the auth plugin of O(auth_type). For the default C(password) plugin these are
        C(auth_url), C(username), C(password), C(project_name) and the domain keys (C(user_domain_name),
        C(project_domain_name)) where the cloud uses them.
      - Not needed when O(cloud) names a cloud or when the C(OS_*) environment variables describe the cloud.
    type: dict
  auth_type:
    description:
      - Name of the keystoneauth plugin that authenticates, when it is not C(password). O(auth) then holds
        what that plugin needs.
    type: str
  region_name:
    description:
      - Region to use.
    type: str
  api_timeout:
    description:
      - Seconds the HTTP layer waits for an API answer. Not set, the requests library's default applies.
    type: int
  validate_certs:
    description:
      - Whether TLS certificates of the API endpoints are verified. Not set, the cloud configuration decides.
    type: bool
    aliases: [verify]
  ca_cert:
    description:
      - Path of a CA bundle to verify the API endpoints' certificates with.
    type: str
    aliases: [cacert]
  client_cert:
    description:
      - Path of a client certificate for the TLS connection.
    type: str
    aliases: [cert]
  client_key:
    description:
      - Path of the key of O(client_cert).
    type: str
    aliases: [key]
  interface:
    description:
      - Which endpoint of the service catalogue is used.
    type: str
    choices: [admin, internal, public]
    default: public
    aliases: [endpoint_type]
  sdk_log_path:
    description:
      - File the openstacksdk log is written to. Not set, nothing is logged.
    type: str
  sdk_log_level:
    description:
      - Level of the openstacksdk log; V(DEBUG) includes the HTTP requests.
    type: str
    choices: [INFO, DEBUG]
    default: INFO
requirements:
  - python >= 3.9
  - openstacksdk >= 1.0.0
notes:
  - Authentication follows openstacksdk, as for the openstack.cloud modules. Values come from
    C(clouds.yaml) (C(/etc/openstack/), C(~/.config/openstack/) or the current directory), then from the
    C(OS_*) environment variables, then from the options of the task.
  - The Masakari API allows segment and host operations to administrators only.
attributes:
  action_group:
    description: Use C(group/hastack.openstack.hastack) in C(module_defaults) to set the connection options
      (for example O(cloud)) once for every module of this collection.
    support: full
    membership:
      - hastack.openstack.hastack
"""

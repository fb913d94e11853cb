# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""The one base class of every OpenStack module of hastack.openstack.

It follows the interface of openstack.cloud's OpenStackModule (class attributes ``argument_spec`` and
``module_kwargs``, a ``run()`` method, ``self.conn``, ``self.params``, ``self.check_mode``) and takes the same
connection options (doc fragment ``hastack.openstack.openstack``), but does not import openstack.cloud: the
collection's sanity run installs this collection alone, where openstack.cloud's module_utils and doc fragment
cannot be found (see docs/modules.md).

What it owns, so that a module is its options, ``run()`` and its documentation:

- the argument spec: connection options merged with the module's own, check mode on by default;
- openstacksdk: a clear failure when it is missing or too old, then ``openstack.connect()`` with the
  connection options, as openstack.cloud builds it;
- errors: an openstacksdk error escaping ``run()`` fails the task with the API's own message, its HTTP
  status and request id instead of a traceback; a keystoneauth error (authentication, unreachable endpoint)
  fails it with its message;
- results: ``run()`` returns the result dict; diff mode gets ``before``/``after`` from ``self.diff()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.compat.version import LooseVersion

try:
    import openstack
    from openstack import exceptions as sdk_exceptions
    from openstack import utils as sdk_utils
    from keystoneauth1 import exceptions as ksa_exceptions
except ImportError:
    openstack = None
    sdk_exceptions = None
    sdk_utils = None
    ksa_exceptions = None
    OPENSTACKSDK_IMPORT_ERROR = traceback.format_exc()
else:
    OPENSTACKSDK_IMPORT_ERROR = None

MINIMUM_SDK_VERSION = "1.0.0"

# Options a cloud given as a dict already contains; giving both is ambiguous (openstack.cloud refuses it too).
_CLOUD_DICT_EXCLUDES = ("auth", "auth_type", "region_name", "validate_certs", "ca_cert", "client_cert",
                        "client_key", "api_timeout")


def openstack_argument_spec():
    """Connection options, as documented by the hastack.openstack.openstack doc fragment."""
    return dict(
        cloud=dict(type="raw"),
        auth=dict(type="dict", no_log=True),
        auth_type=dict(type="str"),
        region_name=dict(type="str"),
        api_timeout=dict(type="int"),
        validate_certs=dict(type="bool", aliases=["verify"]),
        ca_cert=dict(type="str", aliases=["cacert"]),
        client_cert=dict(type="str", aliases=["cert"]),
        client_key=dict(type="str", no_log=True, aliases=["key"]),
        interface=dict(type="str", default="public", choices=["admin", "internal", "public"],
                       aliases=["endpoint_type"]),
        sdk_log_path=dict(type="str"),
        sdk_log_level=dict(type="str", default="INFO", choices=["INFO", "DEBUG"]),
    )


def openstacksdk_version():
    """Installed openstacksdk version ("0" when unknown)."""
    try:
        from importlib import metadata
        return metadata.version("openstacksdk")
    except (ImportError, ValueError):
        return "0"


def api_error_details(error):
    """What an openstacksdk HTTP error tells about the failed request, for the task result."""
    response = getattr(error, "response", None)
    return dict(
        status_code=getattr(error, "status_code", None),
        request_id=getattr(error, "request_id", None),
        details=getattr(error, "details", None),
        url=getattr(error, "url", None),
        method=getattr(error, "method", None),
        response=getattr(response, "text", None),
    )


def api_message(error):
    """The API's own explanation of an HTTP error (Masakari's ``message``), else the whole error text."""
    return getattr(error, "details", None) or str(error)


class HastackOpenStackModule(object):
    """Base of the collection's OpenStack modules; subclasses set ``argument_spec`` and implement ``run()``.

    ``run()`` returns the result dict (``changed`` included). Check mode is supported unless
    ``module_kwargs`` says otherwise; a module honours it by not calling any mutating API method while
    ``self.check_mode`` is true.
    """

    argument_spec = {}
    module_kwargs = {}

    def __init__(self):
        spec = openstack_argument_spec()
        spec.update(self.argument_spec)
        kwargs = dict(supports_check_mode=True)
        kwargs.update(self.module_kwargs)
        self.ansible = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.ansible.params
        self.check_mode = self.ansible.check_mode
        self.diff_mode = self.ansible._diff
        self.warn = self.ansible.warn

        if openstack is None:
            self.fail_json(msg=missing_required_lib("openstacksdk"), exception=OPENSTACKSDK_IMPORT_ERROR)
        installed = openstacksdk_version()
        if LooseVersion(installed) < LooseVersion(MINIMUM_SDK_VERSION):
            self.fail_json(msg="openstacksdk %s or later is required, %s is installed" % (MINIMUM_SDK_VERSION, installed))
        self.sdk = openstack
        self.sdk_exceptions = sdk_exceptions
        self.conn = self._connect()

    # --- connection -----------------------------------------------------------------------------------

    def _connect(self):
        params = self.params
        cloud = params["cloud"]
        if isinstance(cloud, dict):
            given = [name for name in _CLOUD_DICT_EXCLUDES if params[name] is not None]
            if params["interface"] != "public":
                given.append("interface")
            if given:
                self.fail_json(msg="cloud is a complete cloud configuration (a dict); do not also give %s"
                               % ", ".join(given))
            config = dict(cloud)
        else:
            config = dict(
                cloud=cloud,
                auth_type=params["auth_type"],
                auth=params["auth"],
                region_name=params["region_name"],
                verify=params["validate_certs"],
                cacert=params["ca_cert"],
                cert=params["client_cert"],
                key=params["client_key"],
                api_timeout=params["api_timeout"],
                interface=params["interface"],
            )
        if params["sdk_log_path"]:
            debug = params["sdk_log_level"] == "DEBUG"
            self.sdk.enable_logging(debug=debug, http_debug=debug, path=params["sdk_log_path"])
        try:
            return self.sdk.connect(**config)
        except self.sdk_exceptions.SDKException as error:
            self.fail_json(msg="Cannot set up the connection to the cloud: %s" % error)

    def supports_microversion(self, proxy, microversion):
        """True when the service behind ``proxy`` accepts ``microversion`` (openstacksdk's own test)."""
        try:
            return bool(sdk_utils.supports_microversion(proxy, microversion))
        except self.sdk_exceptions.SDKException:
            return False

    # --- results --------------------------------------------------------------------------------------

    def exit_json(self, **kwargs):
        self.ansible.exit_json(**kwargs)

    def fail_json(self, **kwargs):
        self.ansible.fail_json(**kwargs)

    def fail_api(self, msg, error):
        """Fail with our explanation, keeping what the API said (HTTP status, request id, message)."""
        self.fail_json(msg="%s: %s" % (msg, api_message(error)), **api_error_details(error))

    @staticmethod
    def diff(before, after):
        return dict(before=before or {}, after=after or {})

    def run(self):
        raise NotImplementedError("%s must implement run()" % type(self).__name__)

    def __call__(self):
        try:
            result = self.run()
        except self.sdk_exceptions.HttpException as error:
            self.fail_json(msg=str(error), **api_error_details(error))
        except self.sdk_exceptions.SDKException as error:
            self.fail_json(msg=str(error))
        except ksa_exceptions.ClientException as error:
            # keystoneauth's own errors: authentication refused, endpoint unreachable, no endpoint in the catalogue.
            self.fail_json(msg="Cannot talk to the cloud (%s): %s" % (type(error).__name__, error))
        if not self.diff_mode:
            result.pop("diff", None)
        self.exit_json(**result)

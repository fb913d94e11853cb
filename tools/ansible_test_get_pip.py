"""Stand-in for the get-pip bootstrap script ansible-test downloads from its own CI host.

That host is not reachable from these machines (only PyPI is), so `make sanity` places this file in
ansible-test's cache instead. Like get-pip, it installs the requested packages into the interpreter that
runs it: ensurepip provides a pip, which then installs the exact versions ansible-test asks for from PyPI.
"""

import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)

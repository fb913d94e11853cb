"""Makes the helpers shared by the scenarios (extensions/molecule/resources/python) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources" / "python"))

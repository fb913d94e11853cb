#!/usr/bin/env python3
"""Print the failing tests and assertion lines of a molecule/pytest log, so a CI log's tail says what failed.

Usage: failure_summary.py LOG. Strips colours and molecule's box-drawing prefixes.
"""

import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;;[^\x1b]*\x1b\\")
PREFIX = re.compile(r"^\s*[│└┌─]+\s?")
INTERESTING = re.compile(r"(FAILED|ERROR|^E\s|^\[diagnosis\]|fatal:|failed=[1-9]|AssertionError|Timeout|Traceback)")


def main(path):
    lines = []
    with open(path, encoding="utf-8", errors="replace") as log:
        for raw in log:
            line = PREFIX.sub("", ANSI.sub("", raw.rstrip("\n")))
            if INTERESTING.search(line):
                lines.append(line[:400])
    print(f"===== what failed ({path}, last {min(len(lines), 60)} of {len(lines)} matching lines) =====")
    print("\n".join(lines[-60:]))


if __name__ == "__main__":
    main(sys.argv[1])

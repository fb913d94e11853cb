"""Build this collection from a copy of its root that leaves out EXCLUDE patterns, and say what was built.

Run by the hastack.openstack.recover_rulebook role on the Ansible controller, with the Python that runs Ansible:

    python build_collection.py ROOT WORKDIR [EXCLUDE ...]

ROOT is copied to WORKDIR/src without the files and directories whose name or path relative to ROOT matches one
of the EXCLUDE fnmatch patterns (the lab's generated secrets under inventories/, the virtualenv, ...), then
`ansible-galaxy collection build` writes the artifact to WORKDIR/dist. Prints JSON: {"tarball": path,
"manifest_sha256": ...}. The tarball's bytes change with every build (times in the archive); MANIFEST.json does
not (it holds the checksum of FILES.json, which holds the checksum of every file), and ansible-galaxy installs it
unchanged, so its checksum tells whether an installed collection is the one just built.
"""

import fnmatch
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile


def ignore_for(root, patterns):
    def ignore(directory, names):
        relative = os.path.relpath(directory, root)
        ignored = []
        for name in names:
            path = os.path.normpath(os.path.join(relative, name))
            if any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(path, pattern) for pattern in patterns):
                ignored.append(name)
        return ignored

    return ignore


def main():
    if len(sys.argv) < 3:
        print(json.dumps({"failed": True, "msg": "usage: build_collection.py ROOT WORKDIR [EXCLUDE ...]"}))
        return 1
    root, work, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not os.path.isfile(os.path.join(root, "galaxy.yml")):
        print(json.dumps({"failed": True, "msg": f"{root} has no galaxy.yml: not a collection source tree"}))
        return 1
    source, dist = os.path.join(work, "src"), os.path.join(work, "dist")
    shutil.copytree(root, source, symlinks=True, ignore=ignore_for(root, patterns))
    os.makedirs(dist, exist_ok=True)
    build = subprocess.run(
        [sys.executable, "-m", "ansible.cli.galaxy", "collection", "build", "--output-path", dist, source],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        print(
            json.dumps(
                {
                    "failed": True,
                    "msg": "ansible-galaxy collection build failed",
                    "stdout": build.stdout,
                    "stderr": build.stderr,
                }
            )
        )
        return 1
    tarballs = glob.glob(os.path.join(dist, "*.tar.gz"))
    if len(tarballs) != 1:
        print(json.dumps({"failed": True, "msg": f"expected one artifact in {dist}, found {tarballs}"}))
        return 1
    with tarfile.open(tarballs[0]) as archive:
        manifest = archive.extractfile("MANIFEST.json").read()
    print(json.dumps({"tarball": tarballs[0], "manifest_sha256": hashlib.sha256(manifest).hexdigest()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

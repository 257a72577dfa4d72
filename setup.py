"""Installing the package also installs the browser SDK's dependency (socket.io-client) with
npm, from the registry, exactly as ``sdk/package-lock.json`` pins it, into ``sdk/node_modules``,
where ``realtime serve`` serves it from: ``pip install -e .`` stays the one set-up command.
The settings are in setup.cfg; this file only adds that step to the build."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Command, setup
from setuptools.command.build import build

SDK = Path(__file__).resolve().parent / "sdk"


class build_sdk(Command):
    description = "install the browser SDK's npm dependencies (npm ci in sdk/)"
    user_options: list = []

    def initialize_options(self) -> None:
        pass

    def finalize_options(self) -> None:
        pass

    def run(self) -> None:
        lock = SDK / "package-lock.json"
        installed = SDK / "node_modules" / ".package-lock.json"
        if not lock.exists():
            return  # not a checkout (a wheel built from it): nothing to install
        if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
            return  # already what the lockfile says
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed to install the browser SDK's dependencies "
                             "(Debian: apt-get install nodejs npm); then run pip install again")
        env = {**os.environ, "npm_config_update_notifier": "false"}
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SDK, env=env, check=True)


class build_with_sdk(build):
    # Editable installs (pip install -e .) run build's sub-commands too.
    sub_commands = [*build.sub_commands, ("build_sdk", None)]


setup(cmdclass={"build": build_with_sdk, "build_sdk": build_sdk})

"""``realtime`` processes for the tests that need real ones: started, read, stopped or killed."""
from __future__ import annotations

import asyncio
import os
import sys

import aiohttp


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REALTIME_")}


class Serving:
    """A ``realtime serve`` process, read until it says where it listens."""

    def __init__(self, proc: asyncio.subprocess.Process, output: str, port: int) -> None:
        self.proc, self.output, self.port = proc, output, port
        # Keep reading what it logs: a full pipe would stop the process mid-write.
        self._drain = asyncio.get_running_loop().create_task(self._read_on())

    async def _read_on(self) -> None:
        while line := await self.proc.stdout.readline():
            self.output += line.decode(errors="replace")

    @classmethod
    async def start(cls, port: int, *args: str, env: dict | None = None) -> Serving:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "realtime", "serve", "--port", str(port), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**clean_env(), **(env or {})},
        )
        output = ""
        async with asyncio.timeout(60):
            while "listening on" not in output:
                line = await proc.stdout.readline()
                if not line:
                    raise AssertionError(f"serve exited early:\n{output}")
                output += line.decode()
        return cls(proc, output, port)

    async def get(self, path: str) -> tuple[int, dict]:
        async with aiohttp.ClientSession() as http:
            # The port is open once the banner is out; retry only a refused connection.
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}{path}") as response:
                        return response.status, await response.json()
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)
        raise AssertionError("server never accepted a connection")

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), 20)
        await self._drain

    async def kill(self) -> None:
        """As a crash or ``kill -9`` would: no shutdown of any kind."""
        self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), 20)
        await self._drain

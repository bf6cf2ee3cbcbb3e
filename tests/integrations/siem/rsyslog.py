"""A real rsyslogd (Debian's package) for the QRadar tests: its own config, pid, work dir and port under tmp_path.

It listens with imtcp on a free loopback port (octet-counted framing is on by default), optionally TLS through the
gtls driver with certificates made by trustme, and writes every message it receives twice: ``raw.log`` with the
``%rawmsg%`` template (the syslog message exactly as it arrived) and ``parsed.log`` with the fields rsyslog's
RFC 5424 parser found, tab-separated. Control characters are kept (``parser.escapeControlCharactersOnReceive``
off), so LEEF's tabs arrive as tabs. Under CI a missing rsyslogd fails the test; locally it skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PARSED_TEMPLATE = "%pri%\\t%timereported:::date-rfc3339%\\t%hostname%\\t%app-name%\\t%procid%\\t%msgid%\\t%msg%\\n"


def rsyslogd_or_skip() -> str:
    found = shutil.which("rsyslogd") or next(
        (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if Path(p).exists()), None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("rsyslogd is not installed; .ci/run installs it with scripts/ensure-rsyslog")
        pytest.skip("rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls, or scripts/ensure-rsyslog)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Rsyslog:
    binary: str
    directory: Path
    port: int = field(default_factory=free_port)
    tls_files: tuple[Path, Path, Path] | None = None  # CA, certificate, key
    process: asyncio.subprocess.Process | None = None

    @property
    def raw_log(self) -> Path:
        return self.directory / "raw.log"

    @property
    def parsed_log(self) -> Path:
        return self.directory / "parsed.log"

    def config(self) -> str:
        work = self.directory / "work"
        work.mkdir(parents=True, exist_ok=True)
        tls = ""
        if self.tls_files is not None:
            ca, cert, key = self.tls_files
            tls = (
                ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"'
                f' streamDriver.CAFile="{ca}" streamDriver.CertFile="{cert}" streamDriver.KeyFile="{key}"'
            )
        return f"""
global(workDirectory="{work}" parser.escapeControlCharactersOnReceive="off" maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
template(name="parsed" type="string" string="{PARSED_TEMPLATE}")
ruleset(name="leef") {{
  action(type="omfile" file="{self.raw_log}" template="raw")
  action(type="omfile" file="{self.parsed_log}" template="parsed")
}}
input(type="imtcp" address="127.0.0.1" port="{self.port}" ruleset="leef"{tls})
"""

    async def start(self) -> None:
        conf = self.directory / "rsyslog.conf"
        await asyncio.to_thread(conf.write_text, self.config())
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "-n", "-f", str(conf), "-i", str(self.directory / "rsyslogd.pid"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    await writer.wait_closed()
                    return
                if self.process.returncode is not None:
                    raise AssertionError(f"rsyslogd exited with {self.process.returncode}; config:\n{self.config()}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()
        self.process = None

    async def lines(self, path: Path, count: int, timeout: float = 10.0) -> list[str]:  # noqa: ASYNC109
        """The first ``count`` lines rsyslog wrote to ``path``, once they are there (omfile writes per batch)."""
        text = ""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    text = await asyncio.to_thread(_read, path)
                    if text.count("\n") >= count:
                        return text.split("\n")[:count]
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(
                f"rsyslog wrote {text.count(chr(10))} lines to {path.name}, expected {count}"
            ) from None


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""

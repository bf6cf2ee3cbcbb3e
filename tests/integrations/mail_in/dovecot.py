"""A throw-away Dovecot (Debian's ``dovecot-imapd``/``dovecot-pop3d``) on free loopback ports: its own config,
base directory, maildir and passwd-file user, started with ``dovecot -F -c <config>`` and stopped by its pid.

Dovecot runs as the current user (no privilege drop: ``default_internal_user`` and ``mail_uid`` are the caller),
so no root is needed and nothing outside the temporary directory is touched.
"""

from __future__ import annotations

import getpass
import grp
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
USER = "support@psa.test"
PASSWORD = "s3cret-mail-pw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    pop3_port: int
    process: subprocess.Popen[bytes] | None = None
    tls: tuple[Path, Path] | None = None  # (certificate chain, key): STARTTLS, and imaps/pop3s on the ports below
    imaps_port: int = 0
    pop3s_port: int = 0

    @property
    def owner(self) -> tuple[int, int]:
        """Who the mail processes run as: the caller, or Debian's ``dovecot`` user when the caller is root (mail
        access as uid 0 is refused)."""
        if os.getuid() != 0:
            return os.getuid(), os.getgid()
        entry = pwd.getpwnam("dovecot")
        return entry.pw_uid, entry.pw_gid

    def _own(self, path: Path) -> None:
        if os.getuid() == 0:
            os.chown(path, *self.owner)

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / USER

    def config(self) -> str:
        user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
        login_user = user
        if os.getuid() == 0:  # dovecot refuses to run its login and internal processes as root
            user, group, login_user = "dovecot", "dovecot", "dovenull"
        uid, gid = self.owner
        ssl = "no"
        ssl_lines = ""
        if self.tls is not None:
            ssl = "yes"
            ssl_lines = f"ssl_cert = <{self.tls[0]}\nssl_key = <{self.tls[1]}\n"
        return f"""
protocols = imap pop3
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
ssl = {ssl}
{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
first_valid_gid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
  chroot =
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {self.pop3s_port}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    user = {user}
  }}
  unix_listener stats-writer {{
    user = {user}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
pop3_uidl_format = %08Xu%08Xv
namespace inbox {{
  inbox = yes
  separator = /
}}
"""

    def start(self) -> None:
        assert DOVECOT is not None
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the unprivileged login processes must reach the sockets under run/
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            self._own(self.root / sub)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        conf = self.root / "dovecot.conf"
        conf.write_text(self.config())
        self.process = subprocess.Popen(  # noqa: S603 - the installed dovecot binary with our own config file
            [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"dovecot exited: {err}\n{log}")
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.imap_port), timeout=0.2),
                    socket.create_connection(("127.0.0.1", self.pop3_port), timeout=0.2),
                ):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not start listening within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def deliver(self, raw: bytes, folder: str = "") -> Path:
        """Put one message into the maildir's ``new/`` as a local delivery agent would (atomic rename)."""
        base = self.maildir / (f".{folder}" if folder else "")
        for directory in (self.maildir, base, base / "tmp", base / "new", base / "cur"):
            if not directory.exists():
                directory.mkdir(parents=True, exist_ok=True)
                self._own(directory)
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(_counter)}.psa"
        tmp = base / "tmp" / name
        tmp.write_bytes(raw)
        self._own(tmp)
        target = base / "new" / name
        tmp.rename(target)
        return target

    def files(self, folder: str = "") -> list[Path]:
        base = self.maildir / (f".{folder}" if folder else "")
        return sorted(p for sub in ("new", "cur") if (base / sub).exists() for p in (base / sub).iterdir())


def _count() -> itertools.count[int]:
    import itertools

    return itertools.count()


_counter = _count()

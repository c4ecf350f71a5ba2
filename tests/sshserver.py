"""A real OpenSSH server on loopback for DVC remote tests (openssh-server from Debian's packages).

``with SshServer(tmp) as ssh:`` starts ``/usr/sbin/sshd -f CONFIG -D -p PORT`` on 127.0.0.1 with
a host key and a client key made for this server only (``ssh-keygen``), public-key login for the
current user, SFTP (what dvc-ssh uses), and no PAM, no passwords. ``ssh.env`` is an environment
whose ``HOME`` holds ``.ssh/known_hosts`` with this server's host key, so the client verifies the
host strictly. :meth:`configure_remote` points a DVC repository's remote at a folder on it.
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def available() -> str | None:
    """Why an SSH server cannot be started here (None when it can)."""
    if not Path(SSHD).is_file():
        return f"{SSHD} not found: apt-get install -y openssh-server (.ci/run does this)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen not found: apt-get install -y openssh-client"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SshServer:
    def __init__(self, base: Path):
        self.base = Path(base)
        self.user = getpass.getuser()
        self.port = 0
        self.proc: subprocess.Popen | None = None

    # keys, config, HOME
    def _prepare(self) -> None:
        d = self.base
        (d / "home" / ".ssh").mkdir(parents=True, exist_ok=True)
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(d / name)], check=True)
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        os.chmod(d / "authorized_keys", 0o600)
        self.port = _free_port()
        (d / "sshd_config").write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {d / 'host_key'}
PidFile {d / 'sshd.pid'}
AuthorizedKeysFile {d / 'authorized_keys'}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel ERROR
""")
        host_pub = (d / "host_key.pub").read_text().split()
        (d / "home" / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None

    @property
    def keyfile(self) -> Path:
        return self.base / "client_key"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.base / "home"), "DVC_NO_ANALYTICS": "1"}

    def url(self, path: Path) -> str:
        return f"ssh://127.0.0.1:{self.port}{Path(path).resolve()}"

    def __enter__(self) -> "SshServer":
        self._prepare()
        self.proc = subprocess.Popen([SSHD, "-f", str(self.base / "sshd_config"), "-D", "-e", "-p", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:  # ready when the port accepts a connection (polled, not a fixed sleep)
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.proc.stdout.read().decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("sshd did not start listening within 20 s")
                time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def configure_remote(self, repo: Path, name: str, folder: Path, dvc, *, default: bool = True) -> None:
        """``dvc remote add [-d] NAME ssh://...`` plus user and key file (the key path goes into
        ``.dvc/config.local``: it is this machine's, not the study's)."""
        dvc(repo, "remote", "add", *(["-d"] if default else []), "-f", name, self.url(folder))
        dvc(repo, "remote", "modify", "--local", name, "user", self.user)
        dvc(repo, "remote", "modify", "--local", name, "keyfile", str(self.keyfile))

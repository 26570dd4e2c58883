"""A real OpenSSH server on 127.0.0.1 for the remote-benchmark tests: throwaway host key, user key and
known_hosts, on a free port, as the current user (see scripts/ensure-sshd.sh for how sshd gets here)."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def find_sshd() -> tuple[str, dict[str, str]] | None:
    """(sshd path, extra environment) or None."""
    local = ROOT / ".cache" / "openssh"
    if (local / "usr/sbin/sshd").exists():
        return str(local / "usr/sbin/sshd"), {"LD_LIBRARY_PATH": str(local / "usr/lib/x86_64-linux-gnu")}
    found = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    return (found, {}) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@dataclass
class Sshd:
    folder: Path
    port: int
    user: str
    identity: Path
    known_hosts: Path
    process: subprocess.Popen[bytes] | None = None

    def profile(self, name: str, python: str, **extra: object) -> str:
        """A target profile (TOML text) for this server."""
        lines = [
            f'name = "{name}"',
            'transport = "ssh"',
            'host = "127.0.0.1"',
            f"port = {self.port}",
            f'user = "{self.user}"',
            f'identity = "{self.identity}"',
            f'known_hosts = "{self.known_hosts}"',
            f'python = "{python}"',
            f'workdir = "{self.folder / "board"}"',
            "threads = 1",
        ]
        lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
        return "\n".join(lines) + "\n"

    def leftovers(self) -> list[str]:
        """Run folders still in the board's workdir."""
        return sorted(p.name for p in (self.folder / "board").glob("edgeres-run-*"))

    def session_pids(self) -> list[int]:
        """sshd processes serving connections (children of the listener)."""
        assert self.process is not None
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


def start_sshd(folder: Path) -> Sshd:
    found = find_sshd()
    if found is None:
        raise RuntimeError("sshd is not installed: run `make sshd` (scripts/ensure-sshd.sh)")
    sshd, env = found
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "board").mkdir(exist_ok=True)
    keygen(folder / "host_key")
    keygen(folder / "user_key")
    (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
    port = free_port()
    host_pub = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # the privilege-separation directory root's sshd needs
    with (folder / "sshd.log").open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], env={**os.environ, **env}, stderr=log)
    server = Sshd(folder, port, getpass.getuser(), folder / "user_key", folder / "known_hosts", process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text()}") from None
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("sshd did not start listening in 20 s")

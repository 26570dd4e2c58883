"""Run commands on a board with the system OpenSSH client.

Why the system client and not paramiko/asyncssh: it is what users already configured (~/.ssh/config,
agents, ProxyJump, hardware keys, known_hosts), it needs no extra Python package, and its host-key policy
is the one they trust. Host keys are checked strictly (`StrictHostKeyChecking=yes`) unless the user asks to
accept a first-contact key; every remote argument is quoted for the remote POSIX shell.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .targets import Target, TargetError


class HostKeyError(TargetError):
    """The board's host key is unknown or changed."""


class UnreachableError(TargetError):
    """The board could not be reached or refused the login."""


def remote_command(argv: list[str]) -> str:
    """One string for the remote shell that gives the program exactly `argv`, byte for byte."""
    return " ".join(shlex.quote(arg) for arg in argv)


@dataclass(frozen=True)
class Ssh:
    target: Target
    accept_new_host_key: bool = False
    connect_timeout: int = 10

    def __post_init__(self) -> None:
        if self.target.host.startswith("-") or self.target.user.startswith("-"):
            raise TargetError(f"{self.target.name}: host and user may not start with '-'")

    def _args(self) -> list[str]:
        policy = "accept-new" if self.accept_new_host_key else "yes"
        args = ["ssh", "-T", "-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={policy}"]
        args += ["-o", f"ConnectTimeout={self.connect_timeout}", "-o", "ServerAliveInterval=5"]
        args += ["-o", "ServerAliveCountMax=3", "-p", str(self.target.port)]
        if self.target.identity:
            args += ["-i", os.path.expanduser(self.target.identity), "-o", "IdentitiesOnly=yes"]
        if self.target.known_hosts:
            args += ["-o", f"UserKnownHostsFile={os.path.expanduser(self.target.known_hosts)}"]
        destination = f"{self.target.user}@{self.target.host}" if self.target.user else self.target.host
        return [*args, destination]

    def argv(self, remote: list[str]) -> list[str]:
        """The local argv that runs `remote` on the board."""
        return [*self._args(), remote_command(remote)]

    def run(self, remote: list[str], *, stdin: bytes | Path | None = None, timeout: float = 120) -> str:
        """Run `remote` and return its stdout. Raises HostKeyError/UnreachableError/TargetError."""
        try:
            if isinstance(stdin, Path):
                with stdin.open("rb") as handle:
                    done = subprocess.run(self.argv(remote), stdin=handle, capture_output=True, timeout=timeout)
            else:
                done = subprocess.run(self.argv(remote), input=stdin or b"", capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UnreachableError(
                f"{self.target.name} ({self.target.address}): no answer in {timeout:.0f} s"
            ) from None
        if done.returncode != 0:
            raise self.error(done.returncode, done.stderr.decode(errors="replace"), remote[0])
        return done.stdout.decode(errors="replace")

    def put(self, local: Path, remote_path: str, timeout: float = 600) -> None:
        """Copy one file over the SSH channel (no scp/sftp needed on the board)."""
        self.run(["sh", "-c", 'cat > "$1"', "sh", remote_path], stdin=local, timeout=timeout)

    def error(self, code: int, stderr: str, program: str) -> TargetError:
        """A one-line error for a failed ssh run: host key, unreachable, login, or the remote program's."""
        where = f"{self.target.name} ({self.target.address})"
        text = " ".join(stderr.split())
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr or "Host key verification failed" in stderr:
            return HostKeyError(
                f"{where}: host key verification failed (unknown or changed key); check the board's key "
                "fingerprint, then add it to known_hosts (ssh-keyscan), or pass --accept-new-host-key on first contact"
            )
        if code == 255:
            if "Permission denied" in stderr:
                return UnreachableError(f"{where}: login refused ({text[-160:]}); check user and identity file")
            return UnreachableError(f"{where}: cannot connect ({text[-160:] or 'ssh failed'})")
        return TargetError(f"{where}: {program} failed with exit {code}: {text[-300:]}")

"""Which process holds a TCP port, read from Linux's /proc without any tool.

/proc/net/tcp and tcp6 list every listening socket with its inode; /proc/<pid>/fd links a
socket inode to the processes that hold it. The local stack uses this twice: before it
starts, to name the process on a taken port; and while it waits for its own processes, to
accept an answer only from a socket that one of them holds (another stack on the same port
answers health checks just as well).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def can_bind(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on host:port now. SO_REUSEADDR, as every server of the
    stack sets it: a socket left in TIME_WAIT by the last run does not count as taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        return True


def listening_inodes(port: int) -> set[int]:
    """Inodes of the sockets listening on `port`, on any local address, IPv4 or IPv6."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == _LISTEN
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(int(fields[9]))
    return inodes


def all_pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def can_see_sockets() -> bool:
    """Whether this system has /proc/net/tcp (Linux): elsewhere no holder can be named."""
    return (PROC / "net" / "tcp").exists()


def holders(inodes: set[int], pids: Iterable[int] | None = None) -> set[int]:
    """The processes (of `pids`, else all that this user may inspect) that hold a socket."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found: set[int] = set()
    if not wanted:
        return found
    for pid in all_pids() if pids is None else pids:
        with contextlib.suppress(OSError):  # gone, or another user's
            for fd in (PROC / str(pid) / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        found.add(pid)
                        break
    return found


def command_line(pid: int, limit: int = 80) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    text = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_holder(port: int) -> str:
    """Who holds `port`, for a message: 'PID 123 (redis-server 127.0.0.1:6379)'."""
    pids = sorted(holders(listening_inodes(port)))
    if not pids:
        return "a process this user cannot see"
    # A server's workers hold the same socket as their parent: name the first (the parent).
    shown = f"PID {pids[0]} ({command_line(pids[0])})"
    return shown + (f" and {len(pids) - 1} more" if len(pids) > 1 else "")


class PortSpecError(ValueError):
    """A --ports value is not NAME=PORT[,NAME=PORT...] with known names and valid ports."""


def parse_port_spec(spec: str, names: Iterable[str]) -> dict[str, int]:
    """'gateway=9002,litellm=5000' -> {'gateway': 9002, 'litellm': 5000}."""
    known = tuple(names)
    ports: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise PortSpecError(f"{item!r}: expected NAME=PORT with NAME one of {', '.join(known)}")
        ports[name] = valid_port(value.strip(), name)
    return ports


def valid_port(value: str | int, what: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise PortSpecError(f"{what}: {value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise PortSpecError(f"{what}: {port} is not a port between 1 and 65535")
    return port


def duplicates(ports: Mapping[str, int]) -> list[str]:
    """'gateway and litellm on 9000' for every port given to more than one name."""
    by_port: dict[int, list[str]] = {}
    for name, port in ports.items():
        by_port.setdefault(port, []).append(name)
    return [f"{' and '.join(names)} on {port}" for port, names in by_port.items() if len(names) > 1]

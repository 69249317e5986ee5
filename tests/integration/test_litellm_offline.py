"""LiteLLM makes no outbound connection: every connect() it traced went to loopback.

The conftest runs LiteLLM under `strace -f -e trace=connect` from its first instruction,
so the trace covers start-up (where the remote cost map would be fetched) and every
request so far, including a first call to each model (where a tokenizer download for
llama models would happen).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from devstack.stack import LocalStack
from tests.integration.litellm_calls import PROVIDER_MODEL, chat

pytestmark = pytest.mark.integration

CONNECT = re.compile(r"connect\(\d+, \{sa_family=(?P<family>AF_\w+)(?P<rest>.*?)\}, \d+\)")
INET = re.compile(r'sin_port=htons\((?P<port>\d+)\), sin_addr=inet_addr\("(?P<addr>[^"]+)"\)')
INET6 = re.compile(r'sin6_port=htons\((?P<port>\d+)\).*?inet_pton\(AF_INET6, "(?P<addr>[^"]+)"')


def outbound(trace: str) -> tuple[list[str], int]:
    """The connect() calls that leave the machine (or ask DNS), and how many were seen."""
    leaving: list[str] = []
    seen = 0
    for match in CONNECT.finditer(trace):
        seen += 1
        family, rest = match["family"], match["rest"]
        if family in ("AF_UNIX", "AF_UNSPEC", "AF_NETLINK"):
            continue
        address = INET.search(rest) if family == "AF_INET" else INET6.search(rest)
        if address is None:
            leaving.append(match.group(0))
            continue
        ip = ipaddress.ip_address(address["addr"])
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        # A DNS query, even to a loopback resolver, means a name was about to be dialled.
        if not (mapped or ip).is_loopback or address["port"] == "53":
            leaving.append(match.group(0))
    return leaving, seen


def test_outbound_filter_recognises_loopback_and_the_outside() -> None:
    trace = "\n".join(
        [
            "9 connect(5, {sa_family=AF_INET, sin_port=htons(4000), "
            'sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
            "9 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
            'inet_pton(AF_INET6, "2606:4700::6810:84e5", &sin6_addr), sin6_scope_id=0}, 28) = -1',
            "9 connect(7, {sa_family=AF_INET, sin_port=htons(53), "
            'sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
            '9 connect(8, {sa_family=AF_UNIX, sun_path="/run/x.sock"}, 110) = 0',
        ]
    )
    leaving, seen = outbound(trace)
    assert seen == 4
    assert [line.split("(")[1].split(",")[0] for line in leaving] == ["6", "7"]


def test_litellm_connects_only_to_loopback(stack: LocalStack, connect_trace: Path) -> None:
    for model in PROVIDER_MODEL:
        for stream in (False, True):
            assert chat(stack, model, "Is anybody out there?", stream=stream).status == 200

    leaving, seen = outbound(connect_trace.read_text())
    # The trace really records LiteLLM's connections (to the emulator, the receiver).
    assert seen > 0, f"strace recorded no connect() in {connect_trace}"
    assert leaving == [], "LiteLLM tried to reach beyond loopback:\n" + "\n".join(leaving)

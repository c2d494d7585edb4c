"""Helpers for tests that touch the real kernel: skip reasons, scratch pins, packets."""

from __future__ import annotations

import os
import shutil
import struct

import pytest

from tatara_build.runtime.probe import bpffs_mounted, scratch_pins  # noqa: F401 (tests use it)


def kernel_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to load BPF programs"
    if not shutil.which("bpftool"):
        return "bpftool not installed"
    if not bpffs_mounted():
        return "bpffs not mounted at /sys/fs/bpf"
    return None


def require_kernel() -> None:
    why = kernel_skip_reason()
    if why:
        pytest.skip(why)


def eth(proto: int) -> bytes:
    return b"\xff" * 6 + b"\x11" * 6 + struct.pack("!H", proto)


def ipv4(proto: int, src: int = 0x0A000001, dst: int = 0x0A000002, options: bytes = b"",
         payload_len: int = 20) -> bytes:
    ihl = 5 + len(options) // 4
    return struct.pack("!BBHHHBBHII", 0x40 | ihl, 0, ihl * 4 + payload_len, 0, 0, 64, proto, 0,
                       src, dst) + options


def tcp(flags: int, sport: int = 1234, dport: int = 80) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 5 << 4, flags, 0, 0, 0)


def udp(sport: int = 1234, dport: int = 53) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8, 0)

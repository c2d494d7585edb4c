"""Read records from a pinned ring buffer or perf event array through libbpf.so.1.

bpftool has no streaming reader for a ring buffer, so this uses libbpf's own
consumer (the library bpftool is built on) via ctypes: `bpf_obj_get` opens the pin,
`ring_buffer__new`/`ring_buffer__poll` (or `perf_buffer__new`/`perf_buffer__poll`,
which opens one perf event per CPU) call back once per record. Polls are short so
Ctrl-C and `--count` stop the loop between records; the buffers are always freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tatara_build.errors import EnvironmentProblem, RuntimeFailure

_RB_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_PB_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32)
_PB_LOST = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64)
POLL_MS = 100


def libbpf() -> ctypes.CDLL:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise EnvironmentProblem(f"libbpf.so.1 not found ({exc}); install libbpf1 "
                                 "(Debian: apt-get install libbpf1)") from None
    lib.bpf_obj_get.argtypes = [ctypes.c_char_p]
    lib.ring_buffer__new.restype = ctypes.c_void_p
    lib.ring_buffer__new.argtypes = [ctypes.c_int, _RB_CB, ctypes.c_void_p, ctypes.c_void_p]
    lib.ring_buffer__poll.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.ring_buffer__free.argtypes = [ctypes.c_void_p]
    lib.perf_buffer__new.restype = ctypes.c_void_p
    lib.perf_buffer__new.argtypes = [ctypes.c_int, ctypes.c_size_t, _PB_CB, _PB_LOST,
                                     ctypes.c_void_p, ctypes.c_void_p]
    lib.perf_buffer__poll.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.perf_buffer__free.argtypes = [ctypes.c_void_p]
    return lib


def read_records(pin: Path, perf: bool, count: int | None, timeout: float | None
                 ) -> Iterator[bytes]:
    """Yield each record's bytes until `count` records, `timeout` seconds, or Ctrl-C."""
    lib = libbpf()
    fd = lib.bpf_obj_get(str(pin).encode())
    if fd < 0:
        raise RuntimeFailure(f"cannot open pinned map {pin}: {os.strerror(ctypes.get_errno())}")
    got: list[bytes] = []
    try:
        yield from _poll(lib, fd, perf, got, count, timeout)
    finally:
        os.close(fd)


def _poll(lib, fd: int, perf: bool, got: list[bytes], count: int | None,
          timeout: float | None) -> Iterator[bytes]:
    def on_ring(_ctx, data, size) -> int:
        got.append(ctypes.string_at(data, size))
        return 0

    def on_perf(_ctx, _cpu, data, size) -> None:
        got.append(ctypes.string_at(data, size))

    callbacks: list[Callable] = [_RB_CB(on_ring), _PB_CB(on_perf), _PB_LOST(lambda *_: None)]
    if perf:
        buf = lib.perf_buffer__new(fd, 8, callbacks[1], callbacks[2], None, None)
        poll, free = lib.perf_buffer__poll, lib.perf_buffer__free
    else:
        buf = lib.ring_buffer__new(fd, callbacks[0], None, None)
        poll, free = lib.ring_buffer__poll, lib.ring_buffer__free
    if not buf:
        raise RuntimeFailure(f"libbpf could not read map fd {fd}: {os.strerror(ctypes.get_errno())}")
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    try:
        while count is None or seen < count:
            if deadline is not None and time.monotonic() >= deadline:
                return
            rc = poll(buf, POLL_MS)
            if rc < 0 and -rc != 4:  # EINTR: a signal; KeyboardInterrupt follows
                raise RuntimeFailure(f"polling failed: {os.strerror(-rc)}")
            while got and (count is None or seen < count):
                seen += 1
                yield got.pop(0)
    finally:
        free(buf)

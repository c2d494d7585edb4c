"""Pinned bpf_links for hooks bpftool 7.1 cannot attach (tracepoint, perf event,
kprobe, lsm): libbpf's C API through ctypes (libbpf.so.1: bpf_link_create,
bpf_obj_pin, bpf_obj_get, bpf_obj_get_info_by_fd), plus the raw perf_event_open(2)
syscall, which neither glibc nor libbpf wraps.

bpftool 7.1 has no `autoattach`; a link created here and pinned with BPF_OBJ_PIN
outlives this process, and unlinking the pin detaches it (`bpftool link detach`
answers EOPNOTSUPP for perf links). BPF_PERF_EVENT is the attach type of
include/uapi/linux/bpf.h; struct offsets of bpf_prog_info/bpf_map_info are from the same.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from collections.abc import Callable
from pathlib import Path

from tatara_build.runtime.base import AttachFailed, Unsupported

SYS_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}  # glibc has no wrapper for it
BPF_PERF_EVENT = 41
BPF_PROG_TYPE_RAW_TRACEPOINT = 17  # enum bpf_prog_type
PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT = 0, 1, 2
PERF_FLAG_FD_CLOEXEC = 8
SOFTWARE_EVENTS = {"cpu-clock": 0, "task-clock": 1, "page-faults": 2, "context-switches": 3,
                   "cpu-migrations": 4}
HARDWARE_EVENTS = {"cpu-cycles": 0, "instructions": 1, "cache-references": 2, "cache-misses": 3,
                   "branch-instructions": 4, "branch-misses": 5}
TRACEFS = [Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing")]
PROG_INFO_SIZE = 256  # struct bpf_prog_info: id @4, tag @8, name @64 (16 bytes)
MAP_INFO_SIZE = 128  # struct bpf_map_info: type, id, key, value, max_entries, flags, name @24

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _load_libbpf():
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    lib.bpf_obj_get.argtypes = [ctypes.c_char_p]
    lib.bpf_obj_pin.argtypes = [ctypes.c_int, ctypes.c_char_p]
    lib.bpf_link_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    lib.bpf_prog_get_fd_by_id.argtypes = [ctypes.c_uint32]
    lib.bpf_raw_tracepoint_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.bpf_obj_get_info_by_fd.argtypes = [ctypes.c_int, ctypes.c_void_p,
                                           ctypes.POINTER(ctypes.c_uint32)]
    return lib


_libbpf = _load_libbpf()


class PerfEventAttr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
                ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
                ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64),
                ("wakeup_events", ctypes.c_uint32), ("bp_type", ctypes.c_uint32),
                ("config1", ctypes.c_uint64), ("config2", ctypes.c_uint64),
                ("pad", ctypes.c_uint8 * 64)]


FLAG_FREQ = 1 << 10  # perf_event_attr.freq bit in the flags word


def _lib():
    if _libbpf is None:
        raise Unsupported("libbpf.so.1 not found (Debian: apt-get install libbpf1)")
    return _libbpf


def _check(res: int) -> int:
    """libbpf 1.x returns -errno (and sets errno) on failure."""
    if res < 0:
        err = -res if res < -1 else (ctypes.get_errno() or 1)
        raise OSError(err, os.strerror(err))
    return res


def obj_get(path: Path) -> int:
    return _check(_lib().bpf_obj_get(os.fsencode(str(path))))


def obj_pin(fd: int, path: Path) -> None:
    _check(_lib().bpf_obj_pin(fd, os.fsencode(str(path))))


def _info(fd: int, size: int) -> bytes:
    buf = (ctypes.c_ubyte * size)()
    n = ctypes.c_uint32(size)
    _check(_lib().bpf_obj_get_info_by_fd(fd, buf, ctypes.byref(n)))
    return bytes(buf)


def _prog(raw: bytes) -> dict:
    return {"type": int.from_bytes(raw[0:4], "little"),
            "id": int.from_bytes(raw[4:8], "little"), "tag": raw[8:16].hex(),
            "name": raw[64:80].split(b"\0", 1)[0].decode("ascii", "replace")}


def prog_info_pinned(pin: Path) -> dict | None:
    """{id, tag, name} of the program pinned at `pin` (None if none is)."""
    try:
        fd = obj_get(pin)
    except OSError:
        return None
    try:
        return _prog(_info(fd, PROG_INFO_SIZE))
    except OSError:
        return None
    finally:
        os.close(fd)


def prog_info_id(prog_id: int) -> dict | None:
    """{id, tag, name} of a loaded program by id (None if it is gone)."""
    try:
        fd = _check(_lib().bpf_prog_get_fd_by_id(prog_id))
    except OSError:
        return None
    try:
        return _prog(_info(fd, PROG_INFO_SIZE))
    except OSError:
        return None
    finally:
        os.close(fd)


def map_info_pinned(pin: Path) -> dict | None:
    """{type, key, value, entries, flags, name} of the map pinned at `pin`, or None."""
    try:
        fd = obj_get(pin)
    except OSError:
        return None
    try:
        raw = _info(fd, MAP_INFO_SIZE)
    except OSError:
        return None
    finally:
        os.close(fd)
    w = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, 24, 4)]
    return {"type": w[0], "id": w[1], "key": w[2], "value": w[3], "entries": w[4], "flags": w[5]}


def prog_id_tag(pin: Path) -> tuple[int, str] | None:
    """(id, tag) of the program pinned at `pin`, from bpf(2) directly (no subprocess)."""
    info = prog_info_pinned(pin)
    return (info["id"], info["tag"]) if info else None


def link_create(prog_fd: int, target_fd: int, attach_type: int) -> int:
    return _check(_lib().bpf_link_create(prog_fd, target_fd, attach_type, None))


def _syscall(table: dict[str, int], *args) -> int:
    nr = table.get(platform.machine())
    if nr is None:
        raise Unsupported(f"no perf_event_open syscall number for {platform.machine()}")
    res = _libc.syscall(ctypes.c_long(nr), *args)
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return res


def perf_event_open(attr: PerfEventAttr, cpu: int) -> int:
    attr.size = 112  # PERF_ATTR_SIZE_VER5: the fields above, without the padding
    return _syscall(SYS_PERF_EVENT_OPEN, ctypes.byref(attr), ctypes.c_int(-1), ctypes.c_int(cpu),
                    ctypes.c_int(-1), ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))


def tracefs() -> Path:
    for p in TRACEFS:
        if (p / "events").is_dir():
            return p
    raise AttachFailed("tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing): "
                       "tracepoint ids are read from it")


def tracepoint_id(target: str) -> int:
    category, _, name = target.partition("/")
    path = tracefs() / "events" / category / name / "id"
    try:
        return int(path.read_text())
    except OSError:
        raise AttachFailed(f"no tracepoint `{target}` ({path} not found)") from None


def _pin_link(prog_pin: Path, link_pin: Path, make_link: Callable[[int], int]) -> None:
    """Open the pinned program, make a link from its fd, pin the link; close both fds."""
    prog_fd = obj_get(prog_pin)
    try:
        link_fd = make_link(prog_fd)
        try:
            obj_pin(link_fd, link_pin)
        finally:
            os.close(link_fd)
    finally:
        os.close(prog_fd)


def _perf_link(event_fd: int) -> Callable[[int], int]:
    return lambda prog_fd: link_create(prog_fd, event_fd, BPF_PERF_EVENT)


def attach_raw_tracepoint(prog_pin: Path, event: str, link_pin: Path) -> list[Path]:
    """BPF_RAW_TRACEPOINT_OPEN gives a bpf_link fd, pinned like the others (a C object's
    SEC("raw_tp/<event>") program; the spec's target is `<category>/<event>`)."""
    try:
        _pin_link(prog_pin, link_pin,
                  lambda prog_fd: _check(_lib().bpf_raw_tracepoint_open(event.encode(), prog_fd)))
    except OSError as exc:
        raise AttachFailed(f"raw tracepoint {event}: {exc.strerror}") from None
    return [link_pin]


def attach_tracepoint(prog_pin: Path, target: str, link_pin: Path) -> list[Path]:
    """One event on CPU 0 suffices: a tracepoint program then fires on every CPU. A raw
    tracepoint program (C objects' raw_tp/) is attached by its event name instead."""
    info = prog_info_pinned(prog_pin)
    if info and info["type"] == BPF_PROG_TYPE_RAW_TRACEPOINT:
        return attach_raw_tracepoint(prog_pin, target.rpartition("/")[2], link_pin)
    attr = PerfEventAttr(type=PERF_TYPE_TRACEPOINT, config=tracepoint_id(target), sample_period=1)
    try:
        fd = perf_event_open(attr, 0)
    except OSError as exc:
        raise AttachFailed(f"perf_event_open(tracepoint {target}): {exc.strerror}") from None
    try:
        _pin_link(prog_pin, link_pin, _perf_link(fd))
    except OSError as exc:
        raise AttachFailed(f"link tracepoint {target}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return [link_pin]


def parse_perf_target(target: str) -> tuple[int, int, int]:
    """`software/cpu-clock@99hz` -> (type, config, frequency)."""
    spec, _, freq = target.partition("@")
    family, _, event = spec.partition("/")
    table = SOFTWARE_EVENTS if family == "software" else HARDWARE_EVENTS
    ptype = PERF_TYPE_SOFTWARE if family == "software" else PERF_TYPE_HARDWARE
    return ptype, table[event], int(freq.removesuffix("hz") or 99)


def attach_perf_event(prog_pin: Path, target: str, links_dir: Path, name: str) -> list[Path]:
    """One sampling event and one pinned link per online CPU."""
    ptype, config, freq = parse_perf_target(target)
    pins: list[Path] = []
    try:
        for cpu in sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]:
            attr = PerfEventAttr(type=ptype, config=config, sample_period=freq, flags=FLAG_FREQ)
            fd = perf_event_open(attr, cpu)
            try:
                pin = links_dir / f"{name}_cpu{cpu}"
                _pin_link(prog_pin, pin, _perf_link(fd))
                pins.append(pin)
            finally:
                os.close(fd)
    except OSError as exc:
        for p in pins:
            p.unlink(missing_ok=True)
        raise AttachFailed(f"perf event {target}: {exc.strerror}") from None
    return pins

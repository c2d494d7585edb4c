"""Pinned bpf_links for hooks bpftool 7.1 cannot attach (tracepoint, perf event,
kprobe, lsm): a minimal shim over the bpf(2) and perf_event_open(2) syscalls.

bpftool 7.1 has no `autoattach`; a link created here and pinned with BPF_OBJ_PIN
outlives this process, and unlinking the pin detaches it (`bpftool link detach`
answers EOPNOTSUPP for perf links). Syscall and attach-type numbers were checked
against this kernel's BTF (notes/bpftool.md section 3).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from pathlib import Path

from tatara_build.runtime.base import AttachFailed, Unsupported

SYS_BPF = {"x86_64": 321, "aarch64": 280}
SYS_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
BPF_OBJ_PIN, BPF_OBJ_GET, BPF_LINK_CREATE = 6, 7, 28
BPF_PERF_EVENT = 41
BPF_RAW_TRACEPOINT_OPEN, BPF_PROG_TYPE_RAW_TRACEPOINT = 17, 17
PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT = 0, 1, 2
PERF_FLAG_FD_CLOEXEC = 8
SOFTWARE_EVENTS = {"cpu-clock": 0, "task-clock": 1, "page-faults": 2, "context-switches": 3,
                   "cpu-migrations": 4}
HARDWARE_EVENTS = {"cpu-cycles": 0, "instructions": 1, "cache-references": 2, "cache-misses": 3,
                   "branch-instructions": 4, "branch-misses": 5}
TRACEFS = [Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing")]

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.syscall.restype = ctypes.c_long


class PerfEventAttr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
                ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
                ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64),
                ("wakeup_events", ctypes.c_uint32), ("bp_type", ctypes.c_uint32),
                ("config1", ctypes.c_uint64), ("config2", ctypes.c_uint64),
                ("pad", ctypes.c_uint8 * 64)]


FLAG_FREQ = 1 << 10  # perf_event_attr.freq bit in the flags word


def _syscall(table: dict[str, int], *args) -> int:
    nr = table.get(platform.machine())
    if nr is None:
        raise Unsupported(f"no syscall numbers for {platform.machine()}")
    res = _libc.syscall(ctypes.c_long(nr), *args)
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return res


def _bpf(cmd: int, attr: bytearray) -> int:
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    return _syscall(SYS_BPF, ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))


def obj_get(path: Path) -> int:
    attr = bytearray(128)
    cpath = ctypes.create_string_buffer(str(path).encode())
    attr[0:8] = ctypes.addressof(cpath).to_bytes(8, "little")
    return _bpf(BPF_OBJ_GET, attr)


def obj_pin(fd: int, path: Path) -> None:
    attr = bytearray(128)
    cpath = ctypes.create_string_buffer(str(path).encode())
    attr[0:8] = ctypes.addressof(cpath).to_bytes(8, "little")
    attr[8:12] = fd.to_bytes(4, "little")
    _bpf(BPF_OBJ_PIN, attr)


BPF_OBJ_GET_INFO_BY_FD = 15


def _prog_info(pin: Path) -> bytes | None:
    """bpf_prog_info of the program pinned at `pin`, from bpf(2) directly (no subprocess)."""
    try:
        fd = obj_get(pin)
    except OSError:
        return None
    try:
        info = (ctypes.c_ubyte * 256)()
        attr = bytearray(128)
        attr[0:4] = fd.to_bytes(4, "little")
        attr[4:8] = (256).to_bytes(4, "little")
        attr[8:16] = ctypes.addressof(info).to_bytes(8, "little")
        _bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
        return bytes(info)
    except OSError:
        return None
    finally:
        os.close(fd)


def prog_id_tag(pin: Path) -> tuple[int, str] | None:
    """(id, tag) of the program pinned at `pin`."""
    raw = _prog_info(pin)
    return (int.from_bytes(raw[4:8], "little"), raw[8:16].hex()) if raw else None


def prog_type(pin: Path) -> int | None:
    """The kernel program type (bpf_prog_info.type) of the program pinned at `pin`."""
    raw = _prog_info(pin)
    return int.from_bytes(raw[0:4], "little") if raw else None


def link_create(prog_fd: int, target_fd: int, attach_type: int) -> int:
    attr = bytearray(128)
    attr[0:4] = prog_fd.to_bytes(4, "little")
    attr[4:8] = target_fd.to_bytes(4, "little", signed=True)
    attr[8:12] = attach_type.to_bytes(4, "little")
    return _bpf(BPF_LINK_CREATE, attr)


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


def _pin_link(prog_pin: Path, event_fd: int | None, attach_type: int, link_pin: Path) -> None:
    prog_fd = obj_get(prog_pin)
    try:
        link_fd = link_create(prog_fd, event_fd if event_fd is not None else 0, attach_type)
        try:
            obj_pin(link_fd, link_pin)
        finally:
            os.close(link_fd)
    finally:
        os.close(prog_fd)


def attach_raw_tracepoint(prog_pin: Path, event: str, link_pin: Path) -> list[Path]:
    """BPF_RAW_TRACEPOINT_OPEN gives a bpf_link fd, pinned like the others (a C object's
    SEC("raw_tp/<event>") program; the spec's target is `<category>/<event>`)."""
    prog_fd = obj_get(prog_pin)
    name = ctypes.create_string_buffer(event.encode())
    attr = bytearray(128)
    attr[0:8] = ctypes.addressof(name).to_bytes(8, "little")
    attr[8:12] = prog_fd.to_bytes(4, "little")
    try:
        link_fd = _bpf(BPF_RAW_TRACEPOINT_OPEN, attr)
        try:
            obj_pin(link_fd, link_pin)
        finally:
            os.close(link_fd)
    except OSError as exc:
        raise AttachFailed(f"raw tracepoint {event}: {exc.strerror}") from None
    finally:
        os.close(prog_fd)
    return [link_pin]


def attach_tracepoint(prog_pin: Path, target: str, link_pin: Path) -> list[Path]:
    """One event on CPU 0 suffices: a tracepoint program then fires on every CPU. A raw
    tracepoint program (C objects' raw_tp/) is attached by its event name instead."""
    if prog_type(prog_pin) == BPF_PROG_TYPE_RAW_TRACEPOINT:
        return attach_raw_tracepoint(prog_pin, target.rpartition("/")[2], link_pin)
    attr = PerfEventAttr(type=PERF_TYPE_TRACEPOINT, config=tracepoint_id(target), sample_period=1)
    try:
        fd = perf_event_open(attr, 0)
    except OSError as exc:
        raise AttachFailed(f"perf_event_open(tracepoint {target}): {exc.strerror}") from None
    try:
        _pin_link(prog_pin, fd, BPF_PERF_EVENT, link_pin)
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
                _pin_link(prog_pin, fd, BPF_PERF_EVENT, pin)
                pins.append(pin)
            finally:
                os.close(fd)
    except OSError as exc:
        for p in pins:
            p.unlink(missing_ok=True)
        raise AttachFailed(f"perf event {target}: {exc.strerror}") from None
    return pins

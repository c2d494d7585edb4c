"""Load every program of one object through the kernel's verifier, with libbpf.so.1 (the
library bpftool `prog loadall` is built on), and say which programs were refused.

libbpf loads an object's programs all or nothing; when one is refused it is turned off
(`bpf_program__set_autoload`) and the object is opened and loaded again, so one refused
body does not hide the others. Nothing is pinned: the programs and maps go away when the
object is closed.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

_LOG = 1 << 20


def _lib():
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    lib.bpf_object__open_file.restype = ctypes.c_void_p
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.bpf_object__next_program.restype = ctypes.c_void_p
    lib.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.bpf_program__name.restype = ctypes.c_char_p
    lib.bpf_program__name.argtypes = [ctypes.c_void_p]
    lib.bpf_program__set_autoload.argtypes = [ctypes.c_void_p, ctypes.c_bool]
    lib.bpf_program__set_log_buf.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.bpf_object__load.argtypes = [ctypes.c_void_p]
    lib.bpf_object__close.argtypes = [ctypes.c_void_p]
    lib.libbpf_set_print.argtypes = [ctypes.c_void_p]
    lib.libbpf_set_print.restype = ctypes.c_void_p
    lib.libbpf_set_print(None)  # the verifier logs come back through per-program buffers
    return lib


def load_all(obj: Path) -> tuple[list[str], dict[str, str]]:
    """(accepted program names, refused program name -> the verifier's log)."""
    lib = _lib()
    refused: dict[str, str] = {}
    while True:
        o = lib.bpf_object__open_file(str(obj).encode(), None)
        if not o:
            raise OSError(ctypes.get_errno(), f"libbpf cannot open {obj}")
        try:
            progs, bufs = {}, {}
            p = lib.bpf_object__next_program(o, None)
            while p:
                name = lib.bpf_program__name(p).decode()
                progs[name] = p
                if name in refused:
                    lib.bpf_program__set_autoload(p, False)
                else:
                    bufs[name] = ctypes.create_string_buffer(_LOG)
                    lib.bpf_program__set_log_buf(p, bufs[name], _LOG)
                p = lib.bpf_object__next_program(o, p)
            if lib.bpf_object__load(o) == 0:
                return [n for n in progs if n not in refused], refused
            failed = [n for n, b in bufs.items() if b.value]
            if not failed:  # not a verifier refusal (maps, BTF): nothing to turn off
                raise OSError(ctypes.get_errno(), f"libbpf cannot load {obj}")
            for n in failed:
                refused[n] = bufs[n].value.decode(errors="replace")
        finally:
            lib.bpf_object__close(o)


CHECKSUM_COMPLETE = 1 << 2  # BPF_F_TEST_SKB_CHECKSUM_COMPLETE (linux/bpf.h)


class _TestRunOpts(ctypes.Structure):
    """libbpf's `struct bpf_test_run_opts` (bpf/bpf.h)."""

    _fields_ = [("sz", ctypes.c_size_t), ("data_in", ctypes.c_void_p),
                ("data_out", ctypes.c_void_p), ("data_size_in", ctypes.c_uint32),
                ("data_size_out", ctypes.c_uint32), ("ctx_in", ctypes.c_void_p),
                ("ctx_out", ctypes.c_void_p), ("ctx_size_in", ctypes.c_uint32),
                ("ctx_size_out", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("repeat", ctypes.c_int), ("duration", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32),
                ("batch_size", ctypes.c_uint32)]


def test_run(obj: Path, prog: str, data: bytes, flags: int = 0) -> tuple[int, bytes]:
    """BPF_PROG_TEST_RUN of one program of `obj` with `flags` (which bpftool's `prog run`
    cannot pass): (0 or -errno, the packet the program left)."""
    lib = _lib()
    lib.bpf_object__find_program_by_name.restype = ctypes.c_void_p
    lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_program__fd.argtypes = [ctypes.c_void_p]
    lib.bpf_prog_test_run_opts.argtypes = [ctypes.c_int, ctypes.POINTER(_TestRunOpts)]
    o = lib.bpf_object__open_file(str(obj).encode(), None)
    if not o:
        raise OSError(ctypes.get_errno(), f"libbpf cannot open {obj}")
    try:
        if lib.bpf_object__load(o) != 0:
            raise OSError(ctypes.get_errno(), f"libbpf cannot load {obj}")
        fd = lib.bpf_program__fd(lib.bpf_object__find_program_by_name(o, prog.encode()))
        src = ctypes.create_string_buffer(data, len(data))
        out = ctypes.create_string_buffer(len(data) + 256)
        opts = _TestRunOpts(sz=ctypes.sizeof(_TestRunOpts),
                            data_in=ctypes.cast(src, ctypes.c_void_p), data_size_in=len(data),
                            data_out=ctypes.cast(out, ctypes.c_void_p),
                            data_size_out=len(out), repeat=1, flags=flags)
        rc = lib.bpf_prog_test_run_opts(fd, ctypes.byref(opts))
        return (-ctypes.get_errno() if rc else 0), out.raw[:opts.data_size_out]
    finally:
        lib.bpf_object__close(o)

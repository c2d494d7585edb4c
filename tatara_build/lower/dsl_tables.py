"""Tables of the bpf-fn DSL: helpers, operators and packet accessors.

BPF_HELPERS is upstream's table (same names and aya paths) with whether aya-ebpf
0.2.1 exposes the helper as an `unsafe fn` (wrapping a safe one in `unsafe {}`
would be a warning, and generated crates compile with warnings denied).
"""

from __future__ import annotations

# name -> (aya path, unsafe?)
BPF_HELPERS: dict[str, tuple[str, bool]] = {
    "get-current-cpu": ("aya_ebpf::helpers::bpf_get_smp_processor_id", True),
    "get-current-pid-tgid": ("aya_ebpf::helpers::bpf_get_current_pid_tgid", False),
    "get-current-uid-gid": ("aya_ebpf::helpers::bpf_get_current_uid_gid", False),
    "get-prandom": ("aya_ebpf::helpers::bpf_get_prandom_u32", True),
    "ktime-ns": ("aya_ebpf::helpers::bpf_ktime_get_ns", True),
}

COMPARE = {"=": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
BITWISE = {"&": "&", "|": "|", "^": "^"}
WRAPPING = {"+": "wrapping_add", "-": "wrapping_sub", "*": "wrapping_mul"}
SHIFTS = {"<<": "wrapping_shl", ">>": "wrapping_shr"}
DIVISION = {"/": "div", "%": "rem"}
MAP_OPS = {"map-get": 2, "map-set": 3, "map-incr": 2, "map-add": 3, "map-delete": 2}

# Packet accessors: name -> (Pkt method, needs an Ethernet header)
ACCESSORS: dict[str, tuple[str, bool]] = {
    "eth-proto": ("eth_proto", True),
    "ip-version": ("ip_version", False),
    "ip-proto": ("ip_proto", False),
    "ip-ttl": ("ip_ttl", False),
    "ip-len": ("ip_len", False),
    "ipv4-src": ("ipv4_src", False),
    "ipv4-dst": ("ipv4_dst", False),
    "l4-sport": ("l4_sport", False),
    "l4-dport": ("l4_dport", False),
    "tcp-flags": ("tcp_flags", False),
}
LOADS = {"load-u8": "load_u8", "load-u16": "load_u16", "load-u32": "load_u32"}
SPECIAL_FORMS = ("return", "call", "let", "if", "when", "do", "and", "or", "not", *MAP_OPS,
                 *ACCESSORS, *LOADS, "packet-len")

"""Tables of the bpf-fn DSL: helpers, operators and packet accessors.

BPF_HELPERS holds upstream's five helpers (same names and aya paths) and the ones
real programs need. Each row says which kernel program types (`ProgramKind.kernel_type`
in model/kinds.py) may call it: measured on Linux 6.18 by loading a clang-built
object per helper and program type (csum_diff and redirect are refused outside
xdp/sched_cls; get_stackid needs a tracing context). `unsafe` follows aya-ebpf
0.2.1 (wrapping a safe fn in `unsafe {}` is a warning, and warnings are denied).
"""

from __future__ import annotations

from dataclasses import dataclass

TRACING = frozenset({"kprobe", "tracepoint", "perf_event"})
NET_REDIRECT = frozenset({"xdp", "sched_cls"})


@dataclass(frozen=True)
class Helper:
    """A `(call name args…)` helper: its Rust template and where the kernel allows it."""

    rust: str  # {0}, {1}… are replaced by the lowered arguments, {ctx} by the context
    args: tuple[str, ...] = ()  # per argument: "u64", "str" (a literal) or "map:<kind>"
    prog_types: frozenset[str] | None = None  # kernel program types allowed; None: every one
    doc: str = ""
    returns: str = "u64"  # or a record field type (a byte array), e.g. "bytes:16"


BPF_HELPERS: dict[str, Helper] = {
    "get-current-cpu": Helper("u64::from(unsafe { aya_ebpf::helpers::bpf_get_smp_processor_id() })"),
    "get-current-pid-tgid": Helper("u64::from(aya_ebpf::helpers::bpf_get_current_pid_tgid())"),
    "get-current-uid-gid": Helper("u64::from(aya_ebpf::helpers::bpf_get_current_uid_gid())"),
    "get-prandom": Helper("u64::from(unsafe { aya_ebpf::helpers::bpf_get_prandom_u32() })"),
    "ktime-ns": Helper("u64::from(unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() })"),
    "get-current-pid": Helper("aya_ebpf::helpers::bpf_get_current_pid_tgid() & 0xffff_ffff",
                              doc="the thread id (low 32 bits of pid_tgid)"),
    "get-current-tgid": Helper("aya_ebpf::helpers::bpf_get_current_pid_tgid() >> 32",
                               doc="the process id (high 32 bits of pid_tgid)"),
    "get-current-comm": Helper("crate::rt::current_comm()",
                               returns="bytes:16", doc="the task's comm, for a bytes:16 field"),
    "trace-printk": Helper("", ("str",), doc="(call trace-printk \"fmt %d\" a b c): up to 3 values"),
    "csum-diff": Helper("crate::rt::csum_diff32({0}, {1}, {2})", ("u64", "u64", "u64"),
                        NET_REDIRECT, "checksum delta of replacing one 32-bit word"),
    "redirect": Helper("unsafe { aya_ebpf::helpers::bpf_redirect({0} as u32, {1}) } as u64",
                       ("u64", "u64"), NET_REDIRECT, "(call redirect ifindex flags): a verdict"),
    "redirect-map": Helper("crate::rt::redirect_map(&{0}, {1}, {2})",
                           ("map:devmap|devmap-hash|cpumap", "u64", "u64"), frozenset({"xdp"}),
                           "(call redirect-map map key flags): XDP_REDIRECT, or flags' low "
                           "bits (a fallback verdict) when the slot is empty"),
    "get-stackid": Helper("crate::rt::stackid({ctx}, &{0}, {1})", ("map:stack-trace", "u64"),
                          TRACING, "(call get-stackid stack-map flags): an id, or a negative errno"),
    # Kernel memory (lower/bpf_fn/task.py): measured by loading each helper per program type:
    # a root (CAP_PERFMON) loader gets both everywhere through bpf_base_func_proto, but
    # without CAP_PERFMON the kernel refuses them ("unknown func") to xdp, sched_cls,
    # socket_filter and cgroup_skb; tracing types have them as their own. There the
    # "current task" is whatever the packet interrupted, so the DSL keeps them to tracing.
    "get-current-task": Helper("unsafe { aya_ebpf::helpers::generated::bpf_get_current_task() }",
                               (), TRACING, "the current task_struct's address"),
    "probe-read-kernel-u32": Helper("crate::rt::kread_u32({0})", ("u64",), TRACING,
                                    "(call probe-read-kernel-u32 addr): 4 bytes of kernel "
                                    "memory, 0 when the read faults"),
    "probe-read-kernel-u64": Helper("crate::rt::kread_u64({0})", ("u64",), TRACING,
                                    "(call probe-read-kernel-u64 addr): 8 bytes of kernel "
                                    "memory, 0 when the read faults"),
}
PRINTK_MAX_ARGS = 3

COMPARE = {"=": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
BITWISE = {"&": "&", "|": "|", "^": "^"}
WRAPPING = {"+": "wrapping_add", "-": "wrapping_sub", "*": "wrapping_mul"}
SHIFTS = {"<<": "wrapping_shl", ">>": "wrapping_shr"}
DIVISION = {"/": "div", "%": "rem"}
MAP_OPS = {"map-has": 2, "map-get": 2, "map-set": 3, "map-incr": 2, "map-add": 3, "map-delete": 2}

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
    # issue 15 (read side): VLAN tags, IPv6, ICMP/ICMPv6 (rt.rs walks the tags and
    # extension headers; ip-proto/ip-ttl/ip-len/l4-*/tcp-flags cover IPv6 too)
    "vlan-id": ("vlan_id", True),
    "vlan-count": ("vlan_count", True),
    "ipv6-src": ("ipv6_src", False),
    "ipv6-dst": ("ipv6_dst", False),
    "ipv6-src-hi": ("ipv6_src_hi", False),
    "ipv6-src-lo": ("ipv6_src_lo", False),
    "ipv6-dst-hi": ("ipv6_dst_hi", False),
    "ipv6-dst-lo": ("ipv6_dst_lo", False),
    "ipv6-next-header": ("ipv6_next_header", False),
    "ipv6-hop-limit": ("ipv6_hop_limit", False),
    "icmp-type": ("icmp_type", False),
    "icmp-code": ("icmp_code", False),
    "icmp-id": ("icmp_id", False),
    "icmp-seq": ("icmp_seq", False),
}
# How far `Pkt::parse` must read for an accessor (templates/crate/rt.rs): 1 the VLAN
# tags, 2 the IP header, 3 the L4 header (the IPv6 extension-header walk); the body
# parses once, as deep as its deepest accessor.
ACCESSOR_DEPTH = {"eth-proto": 1, "vlan-id": 1, "vlan-count": 1, "ip-proto": 3, "l4-sport": 3,
                  "l4-dport": 3, "tcp-flags": 3, "icmp-type": 3, "icmp-code": 3, "icmp-id": 3,
                  "icmp-seq": 3}  # others: 2
# Accessors whose value is a byte array (a record field type), not a u64.
ACCESSOR_BYTES = {"ipv6-src": "ipv6", "ipv6-dst": "ipv6"}
LOADS = {"load-u8": "load_u8", "load-u16": "load_u16", "load-u32": "load_u32"}

BSWAP = {"bswap16": "u16", "bswap32": "u32", "bswap64": "u64"}

# Context fields by aya context type: (raw pointer, {field: read with PTR for the pointer}).
# __sk_buff fields are u32; `protocol` holds a big-endian 16-bit value, read here in
# host order like `eth-proto`. Which kinds use which context type is model/kinds.py's
# `context` column.
# Each is one load at the field's constant offset (rt.rs `ctx_field!`: LLVM must not
# turn two reads into one through a computed address, which the verifier refuses).
SKB_FIELD = "crate::rt::ctx_field!(PTR, aya_ebpf::bindings::__sk_buff, {0})"
_SKB = {f: SKB_FIELD.format(f) for f in
        ("len", "pkt_type", "mark", "ifindex", "ingress_ifindex", "priority", "vlan_tci",
         "hash", "queue_mapping")}
_SKB["protocol"] = f"u64::from(u16::from_be({SKB_FIELD.format('protocol')} as u16))"
CONTEXT_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "TcContext": ("ctx.skb.skb", _SKB),
    "SkBuffContext": ("ctx.skb.skb", _SKB),
    "XdpContext": ("ctx.ctx", {f: f"crate::rt::ctx_field!(PTR, aya_ebpf::bindings::xdp_md, {f})"
                               for f in ("ingress_ifindex", "rx_queue_index")}),
}

# Packet writes (lower/bpf_fn/stores.py). Kernel program types with writable direct
# packet access (the verifier's may_access_direct_pkt_data: cgroup_skb is read-only,
# socket filters have none).
PACKET_WRITES = frozenset({"xdp", "sched_cls"})
STORES = {"store-u8": ("store_u8", 8), "store-u16": ("store_u16", 16),
          "store-u32": ("store_u32", 32)}


# Kernel program types whose egress packets may carry a CHECKSUM_PARTIAL L4 checksum (the
# field holds the pseudo-header sum for the NIC to finish): a setter's full-checksum
# update would be wrong there, so L4 setters are refused on egress.
PARTIAL_CSUM_EGRESS = frozenset({"sched_cls"})


@dataclass(frozen=True)
class Setter:
    """A packet field setter: its Pkt method, the value's width (0: takes no value), and
    whether it updates a TCP/UDP checksum."""

    method: str
    bits: int = 0
    needs_eth: bool = False
    doc: str = ""
    l4_sum: bool = False


SETTERS: dict[str, Setter] = {
    "set-ipv4-src": Setter("set_ipv4_src", 32, doc="IPv4 header and TCP/UDP checksums fixed", l4_sum=True),
    "set-ipv4-dst": Setter("set_ipv4_dst", 32, doc="IPv4 header and TCP/UDP checksums fixed", l4_sum=True),
    "set-ip-ttl": Setter("set_ip_ttl", 8, doc="IPv4 header checksum fixed"),
    "set-l4-sport": Setter("set_l4_sport", 16, doc="TCP/UDP checksum fixed (UDP 0 stays 0)", l4_sum=True),
    "set-l4-dport": Setter("set_l4_dport", 16, doc="TCP/UDP checksum fixed (UDP 0 stays 0)", l4_sum=True),
    "set-icmp-type": Setter("set_icmp_type", 8, doc="ICMP/ICMPv6 checksum fixed"),
    "swap-macs": Setter("swap_macs", needs_eth=True, doc="Ethernet src <-> dst"),
    "swap-ipv4": Setter("swap_ipv4", doc="IPv4 src <-> dst (no checksum changes)"),
    "swap-l4-ports": Setter("swap_l4_ports", doc="TCP/UDP sport <-> dport (no checksum changes)"),
}

# Kernel task fields, `(task-field NAME [task])` (lower/bpf_fn/task.py): the (struct, field)
# hops each reads; every hop but the last reads a pointer. Offsets are load-time config:
# each hop reads its offset from a `.rodata` symbol KOFF_PREFIX + PROGRAM__STRUCT__FIELD that
# the runtime fills from the running kernel's BTF (runtime/kbtf.py), since aya has no CO-RE.
KOFF_PREFIX = "TATARA_KOFF_"
KOFF_UNSET = 0x7FFF_FFFF  # templates/crate/rt.rs KOFF_UNSET: the field reads 0 until patched
TASK_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "pid": (("task_struct", "pid"),),
    "tgid": (("task_struct", "tgid"),),
    "ppid": (("task_struct", "real_parent"), ("task_struct", "tgid")),
    "real-parent": (("task_struct", "real_parent"),),
    "flags": (("task_struct", "flags"),),
    "exit-code": (("task_struct", "exit_code"),),
    "start-time": (("task_struct", "start_time"),),
}
# Byte size each field must have in the kernel's BTF (8: read as u64, 4: as u32).
KERNEL_FIELDS: dict[tuple[str, str], int] = {
    ("task_struct", "pid"): 4, ("task_struct", "tgid"): 4, ("task_struct", "real_parent"): 8,
    ("task_struct", "flags"): 4, ("task_struct", "exit_code"): 4,
    ("task_struct", "start_time"): 8,
}

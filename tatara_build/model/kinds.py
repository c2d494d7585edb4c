"""THE table of program kinds and map kinds.

Validation, lowering, templates, the runtime and the docs all read these rows,
so adding a kind is one row. Facts come from notes/aya.md (aya-ebpf 0.2.1 macros
and btf_maps), notes/bpftool.md (what this kernel accepts) and tatara-lisp.md
(upstream's wire strings and return actions).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgramKind:
    wire: str  # ":xdp" (upstream serde string, colon included)
    variant: str  # upstream Debug name, e.g. "Xdp"
    attribute: str  # aya attribute name, e.g. "xdp", "classifier"
    context: str  # aya_ebpf::programs::<context>
    ret: str  # Rust return type of the program function
    section: str  # ELF section aya emits for the bare attribute
    prog_type: str  # bpftool `prog show` type string
    attach: str  # how the runtime attaches: netlink-xdp | tc | cgroup | perf-link | socket | none
    actions: dict[str, str] = field(default_factory=dict)  # DSL action -> Rust expression
    default_action: str = "ok"  # verdict when a packet read is out of bounds
    needs_target: bool = False
    direction: bool = False  # attach.direction required (ingress|egress)
    packet_base: int | None = None  # offset of L2/L3 data for packet loads (None: no packet)
    has_ethernet: bool = False
    kernel_feature: str = ""  # `bpftool feature probe` program_types key


_XDP = "aya_ebpf::bindings::xdp_action::"
_TC = "aya_ebpf::bindings::"

PROGRAM_KINDS: dict[str, ProgramKind] = {
    k.wire: k
    for k in [
        ProgramKind(
            ":xdp", "Xdp", "xdp", "XdpContext", "u32", "xdp", "xdp", "netlink-xdp",
            {"xdp-pass": _XDP + "XDP_PASS", "xdp-drop": _XDP + "XDP_DROP",
             "xdp-tx": _XDP + "XDP_TX", "xdp-redirect": _XDP + "XDP_REDIRECT",
             "xdp-aborted": _XDP + "XDP_ABORTED"},
            "xdp-pass", needs_target=True, packet_base=0, has_ethernet=True,
            kernel_feature="have_xdp_prog_type"),
        ProgramKind(
            ":tc", "Tc", "classifier", "TcContext", "i32", "classifier", "sched_cls", "tc",
            {"tc-act-ok": _TC + "TC_ACT_OK", "tc-act-shot": _TC + "TC_ACT_SHOT",
             "tc-act-redirect": _TC + "TC_ACT_REDIRECT", "tc-act-pipe": _TC + "TC_ACT_PIPE",
             "tc-act-unspec": "-1"},
            "tc-act-ok", needs_target=True, direction=True, packet_base=0, has_ethernet=True,
            kernel_feature="have_sched_cls_prog_type"),
        ProgramKind(
            ":socket-filter", "SocketFilter", "socket_filter", "SkBuffContext", "i64", "socket",
            "socket_filter", "socket", {"drop": "0", "accept": "i64::from(u32::MAX)"},
            "accept", kernel_feature="have_socket_filter_prog_type"),
        ProgramKind(
            ":kprobe", "Kprobe", "kprobe", "ProbeContext", "u32", "kprobe", "kprobe", "perf-link",
            {"ok": "0", "err": "1"}, "ok", kernel_feature="have_kprobe_prog_type"),
        ProgramKind(
            ":tracepoint", "Tracepoint", "tracepoint", "TracePointContext", "u32", "tracepoint",
            "tracepoint", "perf-link", {"ok": "0", "err": "1"}, "ok",
            kernel_feature="have_tracepoint_prog_type"),
        ProgramKind(
            ":cgroup-skb", "CgroupSkb", "cgroup_skb", "SkBuffContext", "i32", "cgroup_skb",
            "cgroup_skb", "cgroup", {"allow": "1", "drop": "0"}, "allow", direction=True,
            packet_base=0, kernel_feature="have_cgroup_skb_prog_type"),
        ProgramKind(
            ":lsm", "Lsm", "lsm", "LsmContext", "i32", "lsm", "lsm", "lsm-link",
            {"ok": "0", "deny": "-1"}, "ok", kernel_feature="have_lsm_prog_type"),
        ProgramKind(
            ":perf-event", "PerfEvent", "perf_event", "PerfEventContext", "u32", "perf_event",
            "perf_event", "perf-link", {"ok": "0", "err": "1"}, "ok",
            kernel_feature="have_perf_event_prog_type"),
    ]
}

# Upstream's RETURN_ACTIONS spellings that are kind-neutral; `:ok` is 0, which on
# cgroup-skb means DROP, so it is only accepted where 0 is the benign verdict.
UPSTREAM_GENERIC_ACTIONS = {"ok": "0", "err": "1"}


@dataclass(frozen=True)
class MapKind:
    wire: str  # ":per-cpu-array"
    variant: str  # "PerCpuArray"
    aya_type: str  # aya_ebpf::btf_maps::<aya_type>
    bpftool_type: str  # `bpftool map create ... type <x>`
    key_rule: str  # "4" | "0" | ">0" | ">=5"
    value_rule: str  # ">0" | "0" | "4" | "x8"
    entries_rule: str  # ">0" | "pow2-page" | ">=0"
    flags: int = 0
    per_cpu: bool = False
    keyed: bool = True  # has lookup/update by key (the DSL's map ops)
    array: bool = False  # key is a u32 index; delete not allowed


MAP_KINDS: dict[str, MapKind] = {
    k.wire: k
    for k in [
        MapKind(":hash", "Hash", "HashMap", "hash", ">0", ">0", ">0"),
        MapKind(":lru-hash", "LruHash", "LruHashMap", "lru_hash", ">0", ">0", ">0"),
        MapKind(":array", "Array", "Array", "array", "4", ">0", ">0", array=True),
        MapKind(":per-cpu-hash", "PerCpuHash", "PerCpuHashMap", "percpu_hash", ">0", ">0", ">0",
                per_cpu=True),
        MapKind(":per-cpu-array", "PerCpuArray", "PerCpuArray", "percpu_array", "4", ">0", ">0",
                per_cpu=True, array=True),
        MapKind(":ring-buf", "RingBuf", "RingBuf", "ringbuf", "0", "0", "pow2-page", keyed=False),
        MapKind(":perf-event-array", "PerfEventArray", "PerfEventArray", "perf_event_array",
                "4", "4", ">=0", keyed=False),
        MapKind(":stack-trace", "StackTrace", "StackTrace", "stack_trace", "4", "x8", ">0",
                keyed=False),
        MapKind(":lpm-trie", "LpmTrie", "LpmTrie", "lpm_trie", ">=5", ">0", ">0", flags=1,
                keyed=False),
    ]
}

# Upstream's GPL-compatible license set (exact, case-sensitive).
GPL_COMPATIBLE = ("GPL", "GPL v2", "Dual MIT/GPL", "Dual BSD/GPL")

PAGE_SIZE = 4096
MAX_VALUE_SIZE = 1 << 20  # hash/array value limit accepted here (kernel: KMALLOC_MAX_SIZE)
STACK_TRACE_MAX_VALUE = 127 * 8
LPM_MAX_KEY = 4 + 256
KERNEL_NAME_LEN = 15


# --- bpfman (runtime/bpfman_runtime.py, image/layout.py, fleet/k8s.py) -------------------
@dataclass(frozen=True)
class BpfmanKind:
    prog_type: str  # bpfman's BpfProgType string, used in the io.ebpf.programs image label
    load_type: str | None  # `bpfman load --programs TYPE:fn`; None: bpfman 0.6 can't load it
    crd_type: str | None  # bpfman-operator v1alpha1 program `type` (None: no CRD form)
    namespaced: bool = False  # allowed in a namespaced BpfApplication (else Cluster only)


# tc goes through tcx (a bpf_link per interface, no dispatcher): bpfman's xdp and tc
# dispatchers need freplace (BPF_PROG_TYPE_EXT), which kernels without trampolines refuse.
BPFMAN_PROGRAMS: dict[str, BpfmanKind] = {
    ":xdp": BpfmanKind("xdp", "xdp", "XDP", namespaced=True),
    ":tc": BpfmanKind("tc", "tcx", "TCX", namespaced=True),
    ":tracepoint": BpfmanKind("tracepoint", "tracepoint", "TracePoint"),
    ":kprobe": BpfmanKind("probe", "kprobe", "KProbe"),
    ":socket-filter": BpfmanKind("socket_filter", None, None),
    ":cgroup-skb": BpfmanKind("cgroup_skb", None, None),
    ":perf-event": BpfmanKind("perf_event", None, None),
    ":lsm": BpfmanKind("lsm", None, None),
}

# bpftool map type -> bpfman's MapType string (the io.ebpf.maps label); others are equal.
BPFMAN_MAP_TYPES = {"percpu_array": "per_cpu_array", "percpu_hash": "per_cpu_hash",
                    "lru_percpu_hash": "lru_per_cpu_hash"}

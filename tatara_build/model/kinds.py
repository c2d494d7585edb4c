"""THE table of program kinds and map kinds.

Validation, lowering, templates, the runtime and the docs all read these rows,
so adding a kind is one row: no other module of the package may spell a kind
(`":xdp"`); tests/test_house_kinds.py fails on any kind literal outside this file.
Facts: aya-ebpf 0.2.1's program macros and btf_maps (attribute, context, section),
what this kernel's bpftool accepts (types, feature-probe keys), and upstream
tatara-lisp's wire strings and return actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgramKind:
    wire: str  # ":xdp" (upstream serde string, colon included)
    attribute: str  # aya attribute name, e.g. "xdp", "classifier"
    context: str  # aya_ebpf::programs::<context>
    ret: str  # Rust return type of the program function
    section: str  # ELF section aya emits for the bare attribute
    attach: str  # how the runtime attaches: netlink-xdp | tc | cgroup | perf-link | socket | none
    actions: dict[str, str] = field(default_factory=dict)  # DSL action -> Rust expression
    default_action: str = "ok"  # verdict when a packet read is out of bounds
    action_values: dict[str, int] = field(default_factory=dict)  # action -> returned number
    generic_actions: bool = True  # upstream's :ok (0) / :err (1) allowed (not where 0 drops)
    needs_target: bool = False  # upstream's check: empty target is an error (xdp, tc)
    target_rule: str = ""  # how a target is checked: ifname|tracepoint|ksym|lsm-hook|cgroup|
    #                        perf-event ("": the target is not read)
    attr_args: str = ""  # aya attribute arguments, str.format over target_fields()
    section_arg: str = ""  # appended to `section` for this program, same fields
    sec_prefixes: tuple[str, ...] = ()  # ELF section prefixes (aya and libbpf SEC names)
    test_run: bool = False  # BPF_PROG_TEST_RUN takes a packet for it
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
            ":xdp", "xdp", "XdpContext", "u32", "xdp", "netlink-xdp",
            {"xdp-pass": _XDP + "XDP_PASS", "xdp-drop": _XDP + "XDP_DROP",
             "xdp-tx": _XDP + "XDP_TX", "xdp-redirect": _XDP + "XDP_REDIRECT",
             "xdp-aborted": _XDP + "XDP_ABORTED"},
            "xdp-pass", {"xdp-aborted": 0, "xdp-drop": 1, "xdp-pass": 2, "xdp-tx": 3,
                         "xdp-redirect": 4},
            needs_target=True, target_rule="ifname", sec_prefixes=("xdp",), test_run=True,
            packet_base=0, has_ethernet=True, kernel_feature="have_xdp_prog_type"),
        ProgramKind(
            ":tc", "classifier", "TcContext", "i32", "classifier", "tc",
            {"tc-act-ok": _TC + "TC_ACT_OK", "tc-act-shot": _TC + "TC_ACT_SHOT",
             "tc-act-redirect": _TC + "TC_ACT_REDIRECT", "tc-act-pipe": _TC + "TC_ACT_PIPE",
             "tc-act-unspec": "-1"},
            "tc-act-ok", {"tc-act-ok": 0, "tc-act-shot": 2, "tc-act-pipe": 3,
                          "tc-act-redirect": 7, "tc-act-unspec": -1},
            needs_target=True, target_rule="ifname", sec_prefixes=("classifier", "tc"),
            test_run=True, direction=True, packet_base=0, has_ethernet=True,
            kernel_feature="have_sched_cls_prog_type"),
        ProgramKind(
            ":socket-filter", "socket_filter", "SkBuffContext", "i64", "socket", "socket",
            {"drop": "0", "accept": "i64::from(u32::MAX)"}, "accept",
            {"drop": 0, "accept": 0xFFFFFFFF}, sec_prefixes=("socket",), test_run=True,
            kernel_feature="have_socket_filter_prog_type"),
        ProgramKind(
            ":kprobe", "kprobe", "ProbeContext", "u32", "kprobe", "perf-link",
            {"ok": "0", "err": "1"}, "ok", {"ok": 0, "err": 1}, target_rule="ksym",
            attr_args='(function = "{function}"{offset_arg})', section_arg="/{target}",
            sec_prefixes=("kprobe",), kernel_feature="have_kprobe_prog_type"),
        ProgramKind(
            ":tracepoint", "tracepoint", "TracePointContext", "u32", "tracepoint", "perf-link",
            {"ok": "0", "err": "1"}, "ok", {"ok": 0, "err": 1}, target_rule="tracepoint",
            attr_args='(category = "{category}", name = "{event}")', section_arg="/{target}",
            sec_prefixes=("tracepoint", "tp"), kernel_feature="have_tracepoint_prog_type"),
        ProgramKind(
            ":cgroup-skb", "cgroup_skb", "SkBuffContext", "i32", "cgroup_skb", "cgroup",
            {"allow": "1", "drop": "0"}, "allow", {"allow": 1, "drop": 0},
            generic_actions=False, target_rule="cgroup", attr_args="({direction})",
            section_arg="/{direction}", sec_prefixes=("cgroup_skb", "cgroup/skb"), test_run=True,
            direction=True, packet_base=0, kernel_feature="have_cgroup_skb_prog_type"),
        ProgramKind(
            ":lsm", "lsm", "LsmContext", "i32", "lsm", "lsm-link",
            {"ok": "0", "deny": "-1"}, "ok", {"ok": 0, "deny": -1}, target_rule="lsm-hook",
            attr_args='(hook = "{target}")', section_arg="/{target}", sec_prefixes=("lsm",),
            kernel_feature="have_lsm_prog_type"),
        ProgramKind(
            ":perf-event", "perf_event", "PerfEventContext", "u32", "perf_event", "perf-link",
            {"ok": "0", "err": "1"}, "ok", {"ok": 0, "err": 1}, target_rule="perf-event",
            sec_prefixes=("perf_event",), kernel_feature="have_perf_event_prog_type"),
    ]
}

# Upstream's RETURN_ACTIONS spellings that are kind-neutral; `:ok` is 0, which on
# cgroup-skb means DROP, so it is only accepted where 0 is the benign verdict.
UPSTREAM_GENERIC_ACTIONS = {"ok": "0", "err": "1"}
UPSTREAM_GENERIC_VALUES = {"ok": 0, "err": 1}


def actions_of(kind: ProgramKind) -> list[str]:
    """Every return action a program of `kind` may name: its own, then upstream's generic."""
    extra = [a for a in UPSTREAM_GENERIC_ACTIONS if a not in kind.actions] \
        if kind.generic_actions else []
    return list(kind.actions) + extra


def action_value(kind: ProgramKind, action: str) -> int:
    """The number a program returns for `action` (KeyError when the kind has no such action)."""
    if action in kind.action_values:
        return kind.action_values[action]
    if kind.generic_actions:
        return UPSTREAM_GENERIC_VALUES[action]
    raise KeyError(action)


def target_fields(target: str, direction: str | None) -> dict[str, str]:
    """The names `attr_args` and `section_arg` may use, all derived from the attach point."""
    category, _, event = target.partition("/")
    function, _, offset = target.partition("+")
    return {"target": target, "direction": direction or "", "category": category,
            "event": event, "function": function,
            "offset_arg": f', offset = "{offset}"' if offset else ""}


def kind_of_section(section: str) -> str | None:
    """The program kind of an ELF section (`xdp`, `classifier/x`, `tp/a/b`, ...), or None."""
    for k in PROGRAM_KINDS.values():
        for prefix in k.sec_prefixes:
            if section == prefix or section.startswith((prefix + "/", prefix + ".")):
                return k.wire
    return None


def runnable_kinds() -> list[str]:
    return [k.wire for k in PROGRAM_KINDS.values() if k.test_run]


@dataclass(frozen=True)
class MapKind:
    wire: str  # ":per-cpu-array"
    aya_type: str  # aya_ebpf::btf_maps::<aya_type>
    aya_generics: str  # str.format over key, value (Rust types), n, key_size, value_size
    bpftool_type: str  # `bpftool map create ... type <x>`
    key_rule: str  # "4" | "0" | ">0" | ">=5"
    value_rule: str  # ">0" | "0" | "4" | "x8"
    entries_rule: str  # ">0" | "pow2-page" | ">=0"
    flags: int = 0
    per_cpu: bool = False
    keyed: bool = True  # has lookup/update by key (the DSL's map ops)
    array: bool = False  # key is a u32 index; delete not allowed
    cpu_sized: bool = False  # aya sizes it to the CPU count itself: max_entries must be 0


_KV = "<{key}, {value}, {n}>"
MAP_KINDS: dict[str, MapKind] = {
    k.wire: k
    for k in [
        MapKind(":hash", "HashMap", _KV, "hash", ">0", ">0", ">0"),
        MapKind(":lru-hash", "LruHashMap", _KV, "lru_hash", ">0", ">0", ">0"),
        MapKind(":array", "Array", "<{value}, {n}>", "array", "4", ">0", ">0", array=True),
        MapKind(":per-cpu-hash", "PerCpuHashMap", _KV, "percpu_hash", ">0", ">0", ">0",
                per_cpu=True),
        MapKind(":per-cpu-array", "PerCpuArray", "<{value}, {n}>", "percpu_array", "4", ">0",
                ">0", per_cpu=True, array=True),
        MapKind(":ring-buf", "RingBuf", "<[u8; 0], {n}>", "ringbuf", "0", "0", "pow2-page",
                keyed=False),
        MapKind(":perf-event-array", "PerfEventArray", "", "perf_event_array",
                "4", "4", ">=0", keyed=False, cpu_sized=True),
        MapKind(":stack-trace", "StackTrace", "<{n}, 0, {value_words}>", "stack_trace", "4",
                "x8", ">0", keyed=False),
        MapKind(":lpm-trie", "LpmTrie", "<[u8; {prefix_bytes}], {value}, {n}>", "lpm_trie",
                ">=5", ">0", ">0", flags=1, keyed=False),
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

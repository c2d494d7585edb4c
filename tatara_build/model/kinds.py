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
    test_run: bool = False  # BPF_PROG_TEST_RUN takes a packet for it
    direction: bool = False  # attach.direction required (ingress|egress)
    packet_base: int | None = None  # offset of L2/L3 data for packet loads (None: no packet)
    has_ethernet: bool = False
    kernel_feature: str = ""  # `bpftool feature probe` program_types key
    load_type: str = ""  # `bpftool prog loadall ... type <x>` for sections bpftool cannot
    #                      guess (legacy SEC names; "": the kind needs its hook in the name)

    @property
    def kernel_type(self) -> str:
        """The kernel's name of the program type (`xdp`, `sched_cls`), from kernel_feature."""
        return self.kernel_feature.removeprefix("have_").removesuffix("_prog_type")


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
            needs_target=True, target_rule="ifname", test_run=True,
            packet_base=0, has_ethernet=True, kernel_feature="have_xdp_prog_type",
            load_type="xdp"),
        ProgramKind(
            ":tc", "classifier", "TcContext", "i32", "classifier", "tc",
            {"tc-act-ok": _TC + "TC_ACT_OK", "tc-act-shot": _TC + "TC_ACT_SHOT",
             "tc-act-redirect": _TC + "TC_ACT_REDIRECT", "tc-act-pipe": _TC + "TC_ACT_PIPE",
             "tc-act-unspec": "-1"},
            "tc-act-ok", {"tc-act-ok": 0, "tc-act-shot": 2, "tc-act-pipe": 3,
                          "tc-act-redirect": 7, "tc-act-unspec": -1},
            needs_target=True, target_rule="ifname", test_run=True, direction=True,
            packet_base=0, has_ethernet=True,
            kernel_feature="have_sched_cls_prog_type",
            load_type="tc"),
        ProgramKind(
            ":socket-filter", "socket_filter", "SkBuffContext", "i64", "socket", "socket",
            {"drop": "0", "accept": "i64::from(u32::MAX)"}, "accept",
            {"drop": 0, "accept": 0xFFFFFFFF}, test_run=True,
            kernel_feature="have_socket_filter_prog_type",
            load_type="socket"),
        ProgramKind(
            ":kprobe", "kprobe", "ProbeContext", "u32", "kprobe", "perf-link",
            {"ok": "0", "err": "1"}, "ok", {"ok": 0, "err": 1}, target_rule="ksym",
            attr_args='(function = "{function}"{offset_arg})', section_arg="/{target}",
            kernel_feature="have_kprobe_prog_type",
            load_type="kprobe"),
        ProgramKind(
            ":tracepoint", "tracepoint", "TracePointContext", "u32", "tracepoint", "perf-link",
            {"ok": "0", "err": "1"}, "ok", {"ok": 0, "err": 1}, target_rule="tracepoint",
            attr_args='(category = "{category}", name = "{event}")', section_arg="/{target}",
            kernel_feature="have_tracepoint_prog_type",
            load_type="tracepoint"),
        ProgramKind(
            ":cgroup-skb", "cgroup_skb", "SkBuffContext", "i32", "cgroup_skb", "cgroup",
            {"allow": "1", "drop": "0"}, "allow", {"allow": 1, "drop": 0},
            generic_actions=False, target_rule="cgroup", attr_args="({direction})",
            section_arg="/{direction}", test_run=True,
            direction=True, packet_base=0, kernel_feature="have_cgroup_skb_prog_type"),
        ProgramKind(
            ":lsm", "lsm", "LsmContext", "i32", "lsm", "lsm-link",
            {"ok": "0", "deny": "-1"}, "ok", {"ok": 0, "deny": -1}, target_rule="lsm-hook",
            attr_args='(hook = "{target}")', section_arg="/{target}", kernel_feature="have_lsm_prog_type"),
        ProgramKind(
            ":perf-event", "perf_event", "PerfEventContext", "u32", "perf_event", "perf-link",
            {"ok": "0", "err": "1"}, "ok", {"ok": 0, "err": 1}, target_rule="perf-event",
            kernel_feature="have_perf_event_prog_type",
            load_type="perf_event"),
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
    """The program kind of an ELF section (`xdp`, `classifier/x`, `tp/a/b`, ...), or None
    for a legacy name (SEC("xdp_patch_ports")), which the spec's kind resolves."""
    row = section_kind(section)
    return row.kind if row else None


def runnable_kinds() -> list[str]:
    return [k.wire for k in PROGRAM_KINDS.values() if k.test_run]


@dataclass(frozen=True)
class MapKind:
    wire: str  # ":per-cpu-array"
    aya_type: str  # aya_ebpf::btf_maps::<aya_type>
    aya_generics: str  # str.format over key, value (Rust types), n, key_size, value_size
    bpftool_type: str  # `bpftool map create ... type <x>`
    key_rule: str  # "4" | "0" | "0|4" | ">0" | ">=5"
    value_rule: str  # ">0" | "0" | "4" | "x8" | "any"
    entries_rule: str  # ">0" | "pow2-page" | "page-up" | ">=0"
    flags: int = 0
    per_cpu: bool = False
    keyed: bool = True  # has lookup/update by key (the DSL's map ops)
    array: bool = False  # key is a u32 index; delete not allowed
    cpu_sized: bool = False  # aya sizes it to the CPU count itself: max_entries must be 0
    kernel_kv: tuple[int, int] | None = None  # fixed kernel key/value sizes, whatever the spec says
    streamed: bool = False  # read as a stream of events (`events`), not dumped by key
    standalone: bool = True  # `bpftool map create` can make it alone (map-in-map cannot:
    # it needs an inner map, so the object that declares it creates it; runtime/objprep.py)
    aya_value: int = 0  # value size aya-ebpf 0.2.1's btf_maps type fixes (0: any)


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
        # Seed notes (tatara-ebpf spec.rs): a ring-buf's value_size is its entry size and
        # its byte size is rounded up to a page; a perf-event-array needs no key (key 0).
        MapKind(":ring-buf", "RingBuf", "<[u8; 0], {n}>", "ringbuf", "0", "any", "page-up",
                keyed=False, kernel_kv=(0, 0), streamed=True),
        MapKind(":perf-event-array", "PerfEventArray", "", "perf_event_array",
                "0|4", "4", ">=0", keyed=False, cpu_sized=True, kernel_kv=(4, 4), streamed=True),
        MapKind(":stack-trace", "StackTrace", "<{n}, 0, {value_words}>", "stack_trace", "4",
                "x8", ">0", keyed=False),
        MapKind(":lpm-trie", "LpmTrie", "<[u8; {prefix_bytes}], {value}, {n}>", "lpm_trie",
                ">=5", ">0", ">0", flags=1, keyed=False),
        # XDP redirect targets, tail calls, sockets: values are kernel handles (ifindex,
        # CPU queue size, prog/socket fd), so the DSL's map ops do not apply.
        MapKind(":devmap", "DevMap", "<{n}>", "devmap", "4", "4|8", ">0", keyed=False,
                aya_value=8),
        MapKind(":devmap-hash", "DevMapHash", "<{n}>", "devmap_hash", "4", "4|8", ">0",
                keyed=False, aya_value=8),
        MapKind(":cpumap", "CpuMap", "<{n}>", "cpumap", "4", "4|8", ">0", keyed=False,
                aya_value=8),
        MapKind(":prog-array", "ProgramArray", "<{n}>", "prog_array", "4", "4", ">0",
                keyed=False),
        MapKind(":sockmap", "SockMap", "<{n}>", "sockmap", "4", "4|8", ">0", keyed=False,
                aya_value=4),
        MapKind(":xskmap", "XskMap", "<{n}>", "xskmap", "4", "4", ">0", keyed=False),
        # Map-in-map: aya's ArrayOfMaps/HashOfMaps need the inner map's type, which a spec
        # cannot state, so these are for carried objects only (aya_type "").
        MapKind(":array-of-maps", "", "", "array_of_maps", "4", "4", ">0", keyed=False,
                standalone=False),
        MapKind(":hash-of-maps", "", "", "hash_of_maps", ">0", "4", ">0", keyed=False,
                standalone=False),
    ]
}

# Upstream's GPL-compatible license set (exact, case-sensitive).
GPL_COMPATIBLE = ("GPL", "GPL v2", "Dual MIT/GPL", "Dual BSD/GPL")

PAGE_SIZE = 4096
MAX_VALUE_SIZE = 1 << 20  # hash/array value limit accepted here (kernel: KMALLOC_MAX_SIZE)
STACK_TRACE_MAX_VALUE = 127 * 8
LPM_MAX_KEY = 4 + 256
KERNEL_NAME_LEN = 15


def ring_bytes(entries: int) -> int:
    """A ring buffer's byte size as created: rounded up to a power-of-two multiple of the
    page (the kernel takes nothing else; the seed documents the rounding)."""
    return max(PAGE_SIZE, 1 << max(0, entries - 1).bit_length())


def kernel_shape(kind_wire: str, key: int, value: int, entries: int) -> tuple[int, int, int]:
    """(key_size, value_size, max_entries) of the kernel map a spec's sizes stand for."""
    kind = MAP_KINDS[kind_wire]
    if kind.kernel_kv is not None:
        key, value = kind.kernel_kv
    if kind.entries_rule == "page-up" and entries:
        entries = ring_bytes(entries)
    return key, value, entries


@dataclass(frozen=True)
class SectionKind:
    """One row of libbpf's SEC() table: which program kind a section name means."""

    name: str  # matches "xdp" exactly or "xdp/<anything>" (libbpf's SEC_ATTACHABLE_OPT)
    kind: str  # our program kind (wire string)
    prog_type: str  # the kernel program type libbpf loads it as (bpftool `prog show`)
    bpftool_guesses: bool = True  # the libbpf 1.1 inside bpftool 7.1 knows the name; else
    # the object is loaded with `type <ProgramKind.load_type>`


SECTION_KINDS: list[SectionKind] = [
    SectionKind("xdp.frags", ":xdp", "xdp"),
    SectionKind("xdp", ":xdp", "xdp"),
    SectionKind("tcx", ":tc", "sched_cls", bpftool_guesses=False),
    SectionKind("tc", ":tc", "sched_cls"),
    SectionKind("classifier", ":tc", "sched_cls"),
    SectionKind("socket", ":socket-filter", "socket_filter"),
    SectionKind("kprobe", ":kprobe", "kprobe"),
    SectionKind("kretprobe", ":kprobe", "kprobe"),
    SectionKind("uprobe", ":kprobe", "kprobe"),
    SectionKind("uretprobe", ":kprobe", "kprobe"),
    SectionKind("fentry", ":kprobe", "tracing"),
    SectionKind("fexit", ":kprobe", "tracing"),
    SectionKind("tp", ":tracepoint", "tracepoint"),
    SectionKind("tracepoint", ":tracepoint", "tracepoint"),
    SectionKind("raw_tp", ":tracepoint", "raw_tracepoint"),
    SectionKind("raw_tracepoint", ":tracepoint", "raw_tracepoint"),
    SectionKind("tp_btf", ":tracepoint", "tracing"),
    SectionKind("cgroup_skb", ":cgroup-skb", "cgroup_skb"),  # /ingress, /egress
    SectionKind("cgroup/skb", ":cgroup-skb", "cgroup_skb"),
    SectionKind("perf_event", ":perf-event", "perf_event"),
    SectionKind("lsm", ":lsm", "lsm"),
    SectionKind("lsm.s", ":lsm", "lsm"),
]


def section_kind(section: str) -> SectionKind | None:
    """The SEC() row a section name matches (None: a legacy name; the spec's kind decides):
    the row's name exactly, or followed by "/" and the attach point."""
    for row in SECTION_KINDS:
        if section == row.name or section.startswith(row.name + "/"):
            return row
    return None


def section_feature(section: str) -> str:
    """The `bpftool feature probe` program_types key of the type a section loads as
    (fentry/ is `tracing`, which a kernel without trampolines lacks); "" if legacy."""
    row = section_kind(section)
    return f"have_{row.prog_type}_prog_type" if row else ""


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

"""Every validation rule with a failing and a passing case, messages as users see them."""

from __future__ import annotations

import pytest

from tests.conftest import messages

PROG = '(defbpf-program :name "{name}" :kind {kind} :attach {attach} :source "b.bpf.o" {extra})\n'


def prog(name="p", kind=":xdp", attach='(:target "eth0")', extra=""):
    return PROG.format(name=name, kind=kind, attach=attach, extra=extra)


def mp(name="m", kind=":hash", key=4, value=8, entries=16, extra=""):
    return (f'(defbpf-map :name "{name}" :kind {kind} :key-size {key} :value-size {value} '
            f':max-entries {entries} {extra})\n')


# an ELF header for a little-endian BPF object (e_machine 247): what check reads of it
BPF_ELF = b"\x7fELF\x02\x01\x01" + bytes(11) + (247).to_bytes(2, "little") + bytes(44)


def errs(spec, text, severity="error"):
    folder = spec({"a.tlisp": text, "f.rs": "pub fn run(_ctx: &XdpContext) -> u32 { 2 }\n",
                   "body.tlisp": "(bpf-fn go (ctx) (return :xdp-pass))"})
    (folder / "b.bpf.o").write_bytes(BPF_ELF)
    return messages(folder, severity)


# --- the seed policy check, exact upstream messages -------------------------------------
def test_policy_program_not_declared(spec):
    assert errs(spec, '(defbpf-policy :name "pol" :description "d" :programs ("ghost"))') == [
        "policy `pol`: program `ghost` not declared"]


def test_policy_map_not_declared_and_no_spec(spec):
    text = prog(extra=':uses-maps ("m")') + '(defbpf-policy :name "pol" :description "d" :programs ("p"))'
    assert errs(spec, text) == [
        "policy `pol`: program `p` uses map `m`, but the policy doesn't declare it",
        "policy `pol`: program `p` uses map `m`, which has no BpfMapSpec",
    ]


def test_policy_ok(spec):
    text = prog(extra=':uses-maps ("m")') + mp() + \
        '(defbpf-policy :name "pol" :description "d" :programs ("p") :maps ("m"))'
    assert errs(spec, text) == []


def test_policy_lists_map_without_spec(spec):
    assert errs(spec, '(defbpf-policy :name "pol" :description "d" :maps ("nope"))') == [
        "policy `pol`: map `nope` has no BpfMapSpec"]


# --- upstream's two program checks ------------------------------------------------------
def test_license_must_be_gpl_compatible_with_maps(spec):
    text = prog(extra=':license "MIT" :uses-maps ("m")') + mp()
    assert errs(spec, text) == [
        "BPF program declares `:uses-maps` but `:license` `MIT` is not GPL-compatible — kernel "
        "verifier will reject calls to bpf_map_lookup_elem etc."]
    assert errs(spec, prog(extra=':license "Dual MIT/GPL" :uses-maps ("m")') + mp()) == []
    assert errs(spec, prog(extra=':license "MIT"')) == []


def test_xdp_and_tc_need_a_target(spec):
    assert errs(spec, prog(attach='(:target "")')) == [
        'BPF program kind `:xdp` requires `:attach (:target "<iface>")` — got empty target']


# --- names ------------------------------------------------------------------------------
def test_duplicate_names_per_kind(spec):
    assert errs(spec, mp() + mp()) == ["map `m` is declared twice"]
    assert errs(spec, mp("a") + mp("b")) == []


def test_names_collide_after_snake(spec):
    assert errs(spec, mp("a-b") + mp("a_b")) == [
        "map `a_b` collides with `a-b` (both are `a_b` in generated code)"]


def test_names_must_be_identifiers(spec):
    assert errs(spec, mp("1x")) == [
        "map name `1x` must be letters, digits, `_` or `-`, not starting with a digit"]
    assert errs(spec, mp("self")) == ["map name `self` is a reserved Rust name"]
    assert errs(spec, mp("type")) == []  # escaped as r#type


def test_kernel_name_truncation_warning(spec):
    text = mp("very_long_map_name_1") + mp("very_long_map_name_2")
    assert errs(spec, text, "warning") == [
        "map `very_long_map_name_2` and `very_long_map_name_1` have the same kernel name "
        "`very_long_map_n` (the kernel keeps 15 characters)"]


def test_program_and_map_share_a_name_in_one_policy(spec):
    text = prog("x") + mp("x") + '(defbpf-policy :name "pol" :description "d" :programs ("x") :maps ("x"))'
    assert "policy `pol`: `x` names both a program and a map" in errs(spec, text)


# --- attach per kind --------------------------------------------------------------------
@pytest.mark.parametrize("kind, attach, expect", [
    (":xdp", '(:target "eth0/1")', "is not an interface name"),
    (":xdp", '(:target "a-very-long-interface")', "is not an interface name"),
    (":xdp", '(:target "eth0" :direction "ingress")', "takes no :direction"),
    (":tc", '(:target "eth0")', 'needs :direction "ingress" or "egress", got none'),
    (":tc", '(:target "eth0" :direction "up")', "got `up`"),
    (":tracepoint", '(:target "openat")', "is not a tracepoint `category/name`"),
    (":kprobe", '(:target "do sys")', "is not a kernel symbol"),
    (":lsm", '(:target "File-Open")', "is not an LSM hook name"),
    (":cgroup-skb", '(:target "/tmp/x" :direction "ingress")', "is not a cgroup v2 path"),
    (":cgroup-skb", '(:target "/sys/fs/cgroup/../x" :direction "ingress")', "is not a cgroup v2 path"),
    (":perf-event", '(:target "software/nope")', "is not a perf event"),
    (":tracepoint", '(:target "")', "needs `:attach (:target ...)`"),
])
def test_attach_rules_fail(spec, kind, attach, expect):
    found = errs(spec, prog(kind=kind, attach=attach))
    assert any(expect in m for m in found), found


@pytest.mark.parametrize("kind, attach", [
    (":xdp", '(:target "eth0")'),
    (":tc", '(:target "eth0" :direction "egress")'),
    (":tracepoint", '(:target "syscalls/sys_enter_openat")'),
    (":kprobe", '(:target "do_sys_openat2")'),
    (":lsm", '(:target "file_open")'),
    (":cgroup-skb", '(:target "/sys/fs/cgroup/unified/web" :direction "ingress")'),
    (":perf-event", '(:target "software/cpu-clock@99hz")'),
    (":socket-filter", '(:target "")'),
])
def test_attach_rules_pass(spec, kind, attach):
    assert errs(spec, prog(kind=kind, attach=attach)) == []


def test_socket_filter_notes_who_attaches(spec):
    notes = errs(spec, prog(kind=":socket-filter", attach='(:target "")'), "note")
    assert notes and "a process attaches them" in notes[0]


# --- maps per kind ----------------------------------------------------------------------
@pytest.mark.parametrize("kind, key, value, entries, expect", [
    (":array", 8, 8, 1, "key_size must be 4"),
    (":per-cpu-array", 2, 8, 1, "key_size must be 4"),
    (":perf-event-array", 4, 8, 0, "value_size must be 4"),
    (":stack-trace", 8, 64, 1, "key_size must be 4"),
    (":stack-trace", 4, 60, 1, "multiple of 8"),
    (":ring-buf", 4, 0, 4096, "key_size must be 0"),
    (":ring-buf", 0, 0, 0, "must be > 0"),
    (":perf-event-array", 8, 4, 0, "key_size must be 0 or 4"),
    (":lpm-trie", 4, 8, 1, "key_size must be 5..=260"),
    (":hash", 0, 8, 1, "key_size must be 1..=512"),
    (":hash", 4, 0, 1, "value_size must be 1..="),
    (":hash", 4, 8, 0, "max_entries must be > 0"),
    (":per-cpu-hash", 4, 40000, 1, "value_size must be 1..=32768"),
])
def test_map_rules_fail(spec, kind, key, value, entries, expect):
    found = errs(spec, mp(kind=kind, key=key, value=value, entries=entries))
    assert any(expect in m for m in found), found


@pytest.mark.parametrize("kind, key, value, entries", [
    (":array", 4, 8, 1), (":per-cpu-array", 4, 8, 1), (":perf-event-array", 4, 4, 0),
    (":stack-trace", 4, 1016, 8), (":ring-buf", 0, 0, 65536), (":lpm-trie", 8, 8, 1),
    (":hash", 4, 8, 1), (":lru-hash", 16, 64, 10), (":per-cpu-hash", 4, 8, 1),
])
def test_map_rules_pass(spec, kind, key, value, entries):
    assert errs(spec, mp(kind=kind, key=key, value=value, entries=entries)) == []


# --- sources ----------------------------------------------------------------------------
def _src(source):
    return f'(defbpf-program :name "p" :kind :xdp :attach (:target "eth0") :source "{source}")'


def test_source_shapes(spec):
    assert errs(spec, _src("b.bpf.o")) == []
    assert errs(spec, _src("f.rs")) == []
    assert errs(spec, _src("body.tlisp:go")) == []
    assert errs(spec, _src("body.c")) == [
        "source `body.c`: shape not recognized — expected `*.rs`, `*.bpf.o`, or `*.tlisp:<fn>`"]


def test_source_missing_file_and_fn(spec):
    assert errs(spec, _src("missing.rs"))[0].startswith(
        "program `p`: source file `missing.rs` not found")
    assert errs(spec, _src("body.tlisp:og")) == ["program `p`: no `(bpf-fn og ...)` in body.tlisp"]
    assert errs(spec, _src("body.tlisp:")) == ["program `p`: source `body.tlisp:` names no bpf-fn after `:`"]


# --- pins -------------------------------------------------------------------------------
@pytest.mark.parametrize("pin, expect", [
    ("relative/x", "must be an absolute path under /sys/fs/bpf/"),
    ("/tmp/x", "must be an absolute path under /sys/fs/bpf/"),
    ("/sys/fs/bpf/../x", "must not contain empty, `.` or `..` components"),
    ("/sys/fs/bpf/a//b", "must not contain empty"),
    ('/sys/fs/bpf/a b', "may only use letters"),
])
def test_pin_rules_fail(spec, pin, expect):
    found = errs(spec, mp(extra=f':pin-path "{pin}"'))
    assert any(expect in m for m in found), found


def test_pins_unique_and_ok(spec):
    text = mp("a", extra=':pin-path "/sys/fs/bpf/x"') + mp("b", extra=':pin-path "/sys/fs/bpf/x"')
    assert errs(spec, text) == ["map `b`: pin path `/sys/fs/bpf/x` is already used by map `a`"]
    assert errs(spec, mp(extra=':pin-path "/sys/fs/bpf/tatara/m"')) == []


# --- injection corpus: each string either fails validation or is escaped later ------------
INJECTION = ['a"b', "a\\b", "a\nb", "..", "${x}", '"); panic!("x', "a b", "a/b", "`id`", "$(id)"]


@pytest.mark.parametrize("bad", INJECTION)
def test_injection_in_names_is_rejected(spec, bad):
    from tatara_build.reader.lisp import escape_string
    text = f'(defbpf-map :name {escape_string(bad)} :kind :hash :key-size 4 :value-size 8 :max-entries 1)'
    assert any("must be letters" in m for m in errs(spec, text))


@pytest.mark.parametrize("bad", INJECTION)
def test_injection_in_targets_sources_pins_is_rejected(spec, bad):
    from tatara_build.reader.lisp import escape_string
    s = escape_string(bad)
    assert errs(spec, f'(defbpf-program :name "p" :kind :xdp :attach (:target {s}) :source "b.bpf.o")')
    assert errs(spec, f'(defbpf-program :name "p" :kind :xdp :attach (:target "e") :source {s})')
    assert errs(spec, mp(extra=f":pin-path {s}"))

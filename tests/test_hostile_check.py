"""`check` sees what `build` sees, `render -o` edge cases, and sources outside the spec
folder (issue 10): each reproduction is refused at its location with exit 1, or works."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import build_cli, messages, run_cli

MAP = '(defbpf-map :name "m" :kind :array :key-size 4 :value-size 8 :max-entries 1)\n'
FN = "(bpf-fn f (ctx) (return :xdp-pass))\n"
BPF_ELF = b"\x7fELF\x02\x01\x01" + bytes(11) + (247).to_bytes(2, "little") + bytes(44)
X86_ELF = b"\x7fELF\x02\x01\x01" + bytes(11) + (62).to_bytes(2, "little") + bytes(44)


def prog(name: str, source: str, license: str = "GPL") -> str:
    return (f'(defbpf-program :name "{name}" :kind :xdp :attach (:target "eth0") '
            f':source "{source}" :license "{license}" :uses-maps ("m"))\n')


def policy(programs: list[str], desc: str = "d", name: str = "p") -> str:
    listed = " ".join(f'"{p}"' for p in programs)
    return f'(defbpf-policy :name "{name}" :description "{desc}" :programs ({listed}) :maps ("m"))\n'


def rendered_stderr(folder: Path) -> str:
    r = run_cli("check", str(folder))
    assert r.returncode == 1, r.stdout + r.stderr
    return r.stderr


# --- check sees what build sees --------------------------------------------------------
def test_policy_mixing_licenses_is_refused_by_check(spec):
    folder = spec({"s.tlisp": MAP + prog("a", "s.tlisp:f") + prog("b", "s.tlisp:f", "Dual MIT/GPL")
                   + policy(["a", "b"]) + FN})
    err = rendered_stderr(folder)
    assert "policy `p`: programs built into one object must share a license" in err
    assert "s.tlisp:4:" in err  # at the policy's :programs


def test_rust_body_without_run_is_refused_by_check(spec):
    body = "pub fn body(ctx: &aya_ebpf::programs::XdpContext) -> u32 { 2 }\n"
    folder = spec({"s.tlisp": MAP + prog("a", "a.rs") + policy(["a"]), "a.rs": body})
    err = rendered_stderr(folder)
    assert "program `a`: a.rs has no `pub fn run(ctx: &XdpContext) -> u32`" in err
    assert "s.tlisp:2:" in err
    (folder / "a.rs").write_text("pub fn run(ctx: &XdpContext) -> u32 { 2 }\n")
    assert messages(folder) == []
    (folder / "a.rs").write_text("pub fn run(ctx: &SkBuffContext) -> i32 { 1 }\n")
    assert any("has no `pub fn run(ctx: &XdpContext)" in m for m in messages(folder))


def test_carried_object_that_is_not_bpf_elf_is_refused_by_check(spec):
    folder = spec({"s.tlisp": MAP + prog("a", "x.bpf.o") + policy(["a"]), "x.bpf.o": "text\n"})
    err = rendered_stderr(folder)
    assert "carried object `x.bpf.o` is not an ELF file" in err and "s.tlisp:2:" in err
    (folder / "x.bpf.o").write_bytes(X86_ELF)
    assert any("ELF file for another machine (e_machine 62" in m for m in messages(folder))
    (folder / "x.bpf.o").write_bytes(BPF_ELF)
    assert not any("carried object" in m for m in messages(folder))


def test_emoji_and_bidi_in_a_description_render_valid_files(spec, tmp_path):
    desc = "fast \U0001f680 path \u202e reversed \u00e9"
    folder = spec({"s.tlisp": MAP + prog("a", "s.tlisp:f") + policy(["a"], desc) + FN})
    out = tmp_path / "out"
    r = run_cli("render", str(folder), "-o", str(out))
    assert r.returncode == 0, r.stderr
    cargo = tomllib.loads((out / "crates" / "p" / "Cargo.toml").read_text())
    assert cargo["package"]["description"] == desc
    assert "\u202e" not in (out / "crates" / "p" / "src" / "main.rs").read_text()  # rustc's bidi lint


@pytest.mark.compile
def test_emoji_description_builds(spec, tmp_path):
    folder = spec({"s.tlisp": MAP + prog("a", "s.tlisp:f") + policy(["a"], "fast \U0001f680")
                   + FN})
    r = build_cli([folder], tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]


def test_program_named_like_its_policy_object_is_refused(spec):
    folder = spec({"s.tlisp": MAP + prog("a", "s.tlisp:f") + prog("p", "x.bpf.o")
                   + policy(["a", "p"]) + FN})
    (folder / "x.bpf.o").write_bytes(BPF_ELF)
    assert any("would both be `p.bpf.o`" in m for m in messages(folder))


# --- render -o ---------------------------------------------------------------------------
SMALL = MAP + prog("a", "s.tlisp:f") + policy(["a"]) + FN


def test_render_into_a_file_is_exit_1(spec, tmp_path):
    folder = spec({"s.tlisp": SMALL})
    (tmp_path / "afile").write_text("x")
    r = run_cli("render", str(folder), "-o", str(tmp_path / "afile"))
    assert r.returncode == 1 and "exists and is not a folder" in r.stderr, r.stderr


def test_render_into_a_read_only_folder_is_exit_1(spec, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only tmpfs")
    folder = spec({"s.tlisp": SMALL})
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(mnt)], check=True)
    try:
        r = run_cli("render", str(folder), "-o", str(mnt / "out"))
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert r.returncode == 1 and "Read-only file system" in r.stderr, r.stderr


def test_a_directory_where_a_file_goes_is_exit_1(spec, tmp_path):
    folder, out = spec({"s.tlisp": SMALL}), tmp_path / "out"
    assert run_cli("render", str(folder), "-o", str(out)).returncode == 0
    (out / "crates" / "p" / "Cargo.toml").unlink()
    (out / "crates" / "p" / "Cargo.toml").mkdir()
    r = run_cli("render", str(folder), "-o", str(out))
    assert r.returncode == 1 and "Cargo.toml" in r.stderr and "Is a directory" in r.stderr


def test_a_forged_render_lock_removes_nothing(spec, tmp_path):
    import hashlib
    import json

    folder, out = spec({"s.tlisp": SMALL}), tmp_path / "out"
    crates = out / "crates"  # where render writes and keeps its lock
    crates.mkdir(parents=True)
    for name in ("a", "b", "c"):
        (crates / name).write_text("mine")
    (crates / "tatara.render.json").write_text('{"files": "abc"}')
    assert run_cli("render", str(folder), "-o", str(out)).returncode == 0
    assert all((crates / n).read_text() == "mine" for n in "abc")
    digest = hashlib.sha256(b"mine").hexdigest()
    (crates / "dir").mkdir()
    (crates / "edited").write_text("changed since")
    (crates / "tatara.render.json").write_text(json.dumps({"files": {
        "a": digest, "dir": digest, "edited": digest, "../outside": digest, "b": "zz"}}))
    (out / "outside").write_text("mine")
    r = run_cli("render", str(folder), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert not (crates / "a").exists()  # ours: recorded, unchanged, a regular file
    assert (crates / "dir").is_dir() and (crates / "edited").exists() and (crates / "b").exists()
    assert (out / "outside").exists()


# --- sources outside the spec folder ------------------------------------------------------
@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_sources_outside_the_spec_folder_are_refused(spec, tmp_path, how):
    folder = spec({"spec/s.tlisp": ""}) / "spec"
    secret = tmp_path / "secret.bpf.o"
    secret.write_bytes(BPF_ELF)
    source = {"absolute": str(secret), "dotdot": "../secret.bpf.o", "symlink": "x.bpf.o"}[how]
    if how == "symlink":
        (folder / "x.bpf.o").symlink_to(secret)
    (folder / "s.tlisp").write_text(MAP + prog("a", source) + policy(["a"]))
    r = run_cli("render", str(folder), "-o", str(tmp_path / "out"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "outside the spec's folder" in r.stderr and "s.tlisp:2:" in r.stderr
    assert not (tmp_path / "out").exists()
    r = run_cli("--allow-outside-sources", "render", str(folder), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    r = run_cli("--allow-outside-sources", "check", str(folder))
    assert r.returncode == 0 and "allowed by --allow-outside-sources" in r.stderr, r.stderr


def test_symlink_to_etc_shadow_is_never_copied(spec, tmp_path):
    folder = spec({"s.tlisp": MAP + prog("a", "x.bpf.o") + policy(["a"])})
    (folder / "x.bpf.o").symlink_to("/etc/shadow")
    r = run_cli("render", str(folder), "-o", str(tmp_path / "out"))
    assert r.returncode == 1 and "through a symlink (to /etc/shadow)" in r.stderr
    assert not (tmp_path / "out").exists()


def test_symlinks_inside_the_folder_are_fine(spec, tmp_path):
    folder = spec({"s.tlisp": MAP + prog("a", "x.bpf.o") + policy(["a"])})
    (folder / "objs").mkdir()
    (folder / "objs" / "real.bpf.o").write_bytes(BPF_ELF)
    (folder / "x.bpf.o").symlink_to(folder / "objs" / "real.bpf.o")
    assert not any("outside" in m for m in messages(folder))


def test_overlong_source_path_is_a_diagnostic(spec):
    folder = spec({"s.tlisp": MAP + prog("a", "x" * 5000 + ".bpf.o") + policy(["a"])})
    assert any("cannot be read: File name too long" in m for m in messages(folder))


def test_a_nul_in_a_program_name_is_a_located_error_not_a_crash(spec):
    """The fuzzer's find: a NUL in the name of a program whose body reads a task field
    (the name reaches a Rust static's name) made check stop with an internal error."""
    text = ('(defbpf-map :name "m" :kind :array :key-size 4 :value-size 8 :max-entries 1)\n'
            '(defbpf-program :name "on\x00exec" :kind :tracepoint '
            ':attach (:target "sched/sched_process_exec") :source "s.tlisp:f" :uses-maps ("m"))\n'
            '(bpf-fn f (ctx) (map-set m 0 (task-field ppid)) (return :ok))\n')
    err = rendered_stderr(spec({"s.tlisp": text}))
    assert "internal error" not in err
    assert "s.tlisp:2:" in err and "must be letters, digits" in err


def test_a_nul_in_a_source_path_is_a_located_error_not_a_crash(spec):
    """The fuzzer's find: a NUL inside `:source` crashed path resolution in check."""
    text = MAP + prog("a", "s\x00.tlisp:f") + policy(["a"]) + FN
    err = rendered_stderr(spec({"s.tlisp": text}))
    assert "internal error" not in err and "s.tlisp:2:" in err

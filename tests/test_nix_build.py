"""Real Nix builds of the example policies, sandboxed, through the unmodified nix/ library
and the flake `render` writes, on the nixpkgs stand-in (tests/nixpkgs-standin/) that
scripts/setup.sh prepares. Every object is loaded by the kernel and runs its
defbpf-tests; a rebuild (`--check`) is byte-identical and no build path reaches an object; the Nix
objects equal the cargo backend's objects built with the same toolchain (up to the order
of a few `.BTF` strings on bpf-linker's route, README: Nix)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from tatara_build.backends import manifest
from tatara_build.backends.nix_backend import nixpkgs_options, standin_dir
from tests.conftest import EXAMPLES, ROOT, run_cli
from tests.kernel_util import require_kernel

pytestmark = pytest.mark.nix
NIX = ["--option", "build-users-group", "", "--option", "substituters", ""]


@pytest.fixture(scope="session")
def standin() -> Path:
    """The prepared stand-in (setup builds its bpfel core and bpf-linker once, cached)."""
    r = subprocess.run(["bash", str(ROOT / "scripts/setup-nix-standin.sh")], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr  # scripts/setup.sh prepares it: a real failure
    return standin_dir()


def sandbox(standin: Path) -> list[str]:
    paths = json.loads((standin / "host.json").read_text())["sandboxPaths"]
    return ["--option", "sandbox", "true", "--option", "extra-sandbox-paths", " ".join(paths)]


def library_expr(tmp: Path, standin: Path, rendered: Path) -> Path:
    """policies of `rendered` through ROOT/nix as is, pkgs = the stand-in."""
    f = tmp / "policies.nix"
    f.write_text(f"""let pkgs = import {standin} {{ }}; lib = import {ROOT}/nix {{ inherit pkgs; }};
in lib.mkPolicies {{ src = {rendered}; policies = import {rendered}/policies.nix; }}\n""")
    return f


def nix_build(expr: Path, attrs: list[str], *extra: str) -> subprocess.CompletedProcess:
    argv = ["nix-build", *NIX, *extra, "--no-out-link", str(expr)]
    for a in attrs:
        argv += ["-A", a]
    return subprocess.run(argv, capture_output=True, text=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nixr") / "ebpf"
    r = run_cli("render", str(EXAMPLES), "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out / "crates"  # the one out/ layout: the flake sits beside the crates


@pytest.fixture(scope="module")
def nix_objects(standin, rendered, tmp_path_factory) -> dict[str, Path]:
    """Every example policy, `nix-build` sandboxed through the unmodified library."""
    expr = library_expr(tmp_path_factory.mktemp("nixe"), standin, rendered)
    policies = [p.name for p in sorted(rendered.iterdir()) if (p / "Cargo.toml").exists()
                or (p / "objects").is_dir()]
    r = nix_build(expr, policies, *sandbox(standin))
    assert r.returncode == 0, r.stderr[-6000:]
    return dict(zip(policies, map(Path, r.stdout.split()), strict=True))


def entries(store: Path) -> list[dict]:
    return [{**manifest.object_entry(o, "nix"), "path": str(o)} for o in sorted(store.glob("*.bpf.o"))]


def test_every_example_policy_builds_sandboxed_with_b3(nix_objects):
    for policy, store in nix_objects.items():
        objs = sorted(store.glob("*.bpf.o"))
        assert objs, policy
        for o in objs:
            b3 = (store / f"{o.name[:-len('.bpf.o')]}.b3").read_text()
            assert b3 == f"{blake3.blake3(o.read_bytes()).hexdigest()}  {o.name}\n"
        assert [p.name for p in store.glob("*.bpf.o")] and not list(store.glob("*.s"))


def test_nix_objects_load_in_the_kernel(nix_objects):
    from tatara_build.runtime.verify import verify_object

    require_kernel()
    loaded, skipped = [], []
    for policy, store in nix_objects.items():
        for e in entries(store):
            why = verify_object(policy, Path(e["path"]), e["programs"])
            (skipped if why else loaded).append(f"{policy}/{e['file']}")
    assert len(loaded) >= 5 and len(skipped) <= 1, (loaded, skipped)  # no BPF LSM here


def test_nix_objects_pass_their_defbpf_tests(nix_objects):
    from tatara_build.cli.render import render_files
    from tatara_build.testing.runner import run_tests

    require_kernel()
    _files, _plan, loaded = render_files([EXAMPLES])
    results = run_tests(loaded.project, {p: entries(s) for p, s in nix_objects.items()})
    assert results and all(r.passed for r in results), [(r.name, r.problems) for r in results]


def test_check_rebuild_is_byte_identical(nix_objects, standin, rendered, tmp_path):
    expr = library_expr(tmp_path, standin, rendered)
    r = nix_build(expr, ["edge_protection.crate"], "--check", *sandbox(standin))
    assert r.returncode == 0, r.stderr[-4000:]


def test_no_build_path_in_any_object(nix_objects):
    # paths are remapped for every crate (vendored ones too): /build, the vendor copy and
    # the store do not reach debug info, so where the build ran does not show
    for policy, store in nix_objects.items():
        for o in store.glob("*.bpf.o"):
            data = o.read_bytes()
            for leak in (b"/build/", b"cargo-vendor-dir", b"/nix/store", b"/homeless-shelter"):
                assert leak not in data, (policy, o.name, leak)


def test_rendered_flake_builds_with_nixpkgs_overridden(nix_objects, standin, rendered):
    argv = ["nix", "--extra-experimental-features", "nix-command flakes", *NIX, "build",
            "--no-link", "--json", "--no-write-lock-file", *nixpkgs_options(str(standin)),
            f"path:{rendered}#edge_protection", f"path:{rendered}#udp_counter"]
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    outs = [Path(x["outputs"]["out"]) for x in json.loads(r.stdout)]
    # the flake's carried library gives the very derivations of nix/ in the checkout
    assert outs == [nix_objects["edge_protection"], nix_objects["udp_counter"]]
    lock = json.loads((rendered / "flake.lock").read_text())
    assert lock["nodes"]["nixpkgs"]["locked"]["type"] == "github"  # pinned, and left as is


def strings(data: bytes) -> list[bytes]:
    return sorted(re.findall(rb"[\x20-\x7e]{4,}", data))


def test_nix_objects_equal_cargo_backend_objects(nix_objects, built):
    from tatara_build.backends.toolchain import detect

    tc = detect()
    assert tc.route == "bpf-linker" and tc.bpf_sysroot, tc.problems  # what setup installs
    identical, reordered = [], []
    for policy, store in nix_objects.items():
        for o in store.glob("*.bpf.o"):
            nix_obj, cargo_obj = o.read_bytes(), (built / "artifacts" / policy / o.name).read_bytes()
            if nix_obj == cargo_obj:
                identical.append(o.name)
            else:
                # bpf-linker's BTF may order a few strings differently per build folder
                # (README: Nix): same size, same strings, nothing else differs
                assert len(nix_obj) == len(cargo_obj) and strings(nix_obj) == strings(cargo_obj), o.name
                reordered.append(o.name)
    print(f"nix == cargo: {len(identical)} identical, {len(reordered)} reordered {reordered}")
    assert len(identical) >= 4, (identical, reordered)


def test_cli_backend_nix_standin(nix_objects, tmp_path):
    out = tmp_path / "out"
    r = run_cli("build", str(EXAMPLES / "tracepoint-counter.tlisp"), "-o", str(out),
                "--backend", "nix", "--nixpkgs", "standin", "--json")
    assert r.returncode == 0, r.stderr[-4000:]
    m = json.loads((out / "artifacts/openat_counter/tatara.manifest.json").read_text())
    assert m["toolchain"]["route"] == "nix" and m["toolchain"]["nixpkgs"] == "standin"
    [obj] = m["objects"]
    assert obj["programs"][0]["section"] == "tracepoint/syscalls/sys_enter_openat"
    built = (nix_objects["openat_counter"] / "openat_counter.bpf.o").read_bytes()
    assert obj["sha256"] == hashlib.sha256(built).hexdigest()


def test_cli_nix_crate_that_does_not_compile_exits_3_with_rustc_message(standin, tmp_path):
    spec = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "rust-body", spec)
    body = spec / "cgroup_bytes.rs"
    body.write_text(body.read_text().replace("{", "{\n    let _oops: u32 = \"not a number\";", 1))
    r = run_cli("build", str(spec), "-o", str(tmp_path / "out"), "--backend", "nix",
                "--nixpkgs", "standin")
    assert r.returncode == 3, r.stderr[-4000:]
    assert "error[E0308]: mismatched types" in r.stderr and "not a number" in r.stderr
    assert "policy `cgroup_bytes`" in r.stderr and "Traceback" not in r.stderr


def test_cli_nix_missing_exits_5_naming_the_package(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "tatara_build", "build", str(EXAMPLES), "-o",
                        str(tmp_path / "out"), "--backend", "nix"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 5 and "nix-bin" in r.stderr, r.stderr


def test_cli_nix_standin_not_prepared_exits_5(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "tatara_build", "build",
                        str(EXAMPLES / "tracepoint-counter.tlisp"), "-o", str(tmp_path / "out"),
                        "--backend", "nix", "--nixpkgs", "standin"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 5 and "scripts/setup.sh" in r.stderr, r.stderr

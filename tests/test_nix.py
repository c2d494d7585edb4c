"""Nix: every shipped and rendered Nix file parses, the library's unit tests pass
against a fake pkgs, and the rendered flake's policies evaluate to the expected
derivations. Building them needs nixpkgs from the network (see README)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.nix
GOLDEN = ROOT / "tests" / "golden"


def nix_instantiate(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("nix-instantiate")
    if exe is None:
        pytest.fail("nix-instantiate missing: scripts/setup.sh installs nix-bin")
    return subprocess.run([exe, *args], capture_output=True, text=True)


def golden_policies() -> list[str]:
    r = nix_instantiate("--eval", "--strict", "--json", "-E",
                        f"map (p: p.name) (import {GOLDEN}/policies.nix)")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_every_nix_file_parses():
    files = [*ROOT.joinpath("nix").rglob("*.nix"), ROOT / "flake.nix", *GOLDEN.glob("*.nix")]
    assert len(files) >= 10
    for f in files:
        r = nix_instantiate("--parse", str(f))
        assert r.returncode == 0, f"{f}: {r.stderr}"


def test_nix_library_unit_tests():
    r = nix_instantiate("--eval", "--strict", "--json", str(ROOT / "nix" / "tests"))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["failed"] == [] and data["passed"] >= 14


def test_rendered_flake_policies_evaluate_to_derivations(tmp_path):
    expr = f"""
      let
        pkgs = import {ROOT}/nix/tests/fake-pkgs.nix;
        lib = import {ROOT}/nix {{ inherit pkgs; }};
        tb = pkgs.stdenv.mkDerivation {{ pname = "tatara-build"; version = "0"; }};
        all = lib.mkPolicies {{ src = {GOLDEN}; policies = import {GOLDEN}/policies.nix; tatara-build = tb; }};
      in builtins.mapAttrs (n: d: {{
        inherit (d) name;
        crate = if d.crate == null then null else {{
          inherit (d.crate) pname dontStrip;
          env = d.crate.env.RUSTC_BOOTSTRAP;
          lock = baseNameOf (toString d.crate.cargoDeps.lockFile);
        }};
        inherit (d) carried;
      }}) all
    """
    r = nix_instantiate("--eval", "--strict", "--json", "-E", expr)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == set(golden_policies()) and len(data) >= 7
    assert data["edge_protection"]["name"] == "bpf-edge_protection"
    assert data["edge_protection"]["crate"] == {"pname": "bpf-edge_protection", "dontStrip": True,
                                                "env": "1", "lock": "Cargo.lock"}
    assert data["udp_counter"]["crate"] is None and data["udp_counter"]["carried"] == ["count_udp"]


def test_rendered_flake_names_each_policy_package():
    text = (GOLDEN / "flake.nix").read_text()
    assert "packages = forAllSystems policiesFor;" in text and "hydraJobs" in text
    assert "(import ./tatara-nix { inherit pkgs; }).mkPolicies" in text


def _build_phase() -> str:
    expr = f"""(import {ROOT}/nix {{ pkgs = import {ROOT}/nix/tests/fake-pkgs.nix; }}).buildBpfObject
               {{ name = "edge_protection"; src = {GOLDEN}/edge_protection; }}"""
    r = nix_instantiate("--eval", "--strict", "--json", "-E", f"({expr}).buildPhase")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_build_phase_repeats_no_flag_of_the_rendered_cargo_config():
    # bpf-linker refuses a repeated --btf: the config's flags must not come twice.
    import tomllib

    config = tomllib.loads((GOLDEN / "edge_protection" / ".cargo" / "config.toml").read_text())
    flags = config["target"]["bpfel-unknown-none"]["rustflags"]
    values = [f for f in flags if f != "-C"]
    assert "link-arg=--btf" in values
    phase = _build_phase()
    for v in values:
        assert v not in phase and v.replace("=", " ") not in phase, v


def test_rendered_flake_has_no_tatara_build_input_and_a_locked_nixpkgs():
    text = (GOLDEN / "flake.nix").read_text()
    assert "tatara-build.url" not in text and "import ./tatara-nix" in text
    lock = json.loads((GOLDEN / "flake.lock").read_text())
    assert set(lock["nodes"]) == {"root", "nixpkgs"}
    assert len(lock["nodes"]["nixpkgs"]["locked"]["rev"]) == 40
    for f in ROOT.joinpath("nix").glob("*.nix"):
        carried = (GOLDEN / "tatara-nix" / f.name).read_text()
        assert carried.endswith(f.read_text()), f.name


def test_rendered_flake_hydra_jobs_are_job_then_system():
    expr = f"""
      let flake = import {GOLDEN}/flake.nix;
          nixpkgs = {{ lib = import {ROOT}/tests/nixpkgs-standin/lib.nix;
                      legacyPackages = {{ x86_64-linux = import {ROOT}/nix/tests/fake-pkgs.nix;
                                         aarch64-linux = import {ROOT}/nix/tests/fake-pkgs.nix; }}; }};
          self = flake.outputs {{ inherit self nixpkgs; }};
      in builtins.mapAttrs (job: systems: builtins.attrNames systems) self.hydraJobs
    """
    r = nix_instantiate("--eval", "--strict", "--json", "-E", expr)
    assert r.returncode == 0, r.stderr
    jobs = json.loads(r.stdout)
    assert jobs["edge_protection"] == ["aarch64-linux", "x86_64-linux"]
    assert sorted(jobs) == sorted(golden_policies())


def _project_flake(attr: str) -> subprocess.CompletedProcess:
    """Evaluate the project's flake.nix outputs against the fake pkgs (no nixpkgs aliases)
    with a python3Packages whose builders return their arguments."""
    expr = f"""
      let
        fake = import {ROOT}/nix/tests/fake-pkgs.nix;
        py = builtins.listToAttrs (map (n: {{ name = n; value = n; }})
          [ "pydantic" "typer" "rich" "jinja2" "tomli-w" "pyelftools" "blake3" "pytest"
            "hypothesis" "hatchling" "pytestCheckHook" ]) // {{ buildPythonApplication = a: a; }};
        pkgs = fake // {{
          python3Packages = py;
          python3 = {{ withPackages = f: f py; }};
          mkShell = a: a;
          clang = "clang"; llvm = "llvm"; iproute2 = "iproute2"; ruff = "ruff";
          stdenv = fake.stdenv // {{ hostPlatform.system = "x86_64-linux"; }};
        }};
        nixpkgs = {{ lib = import {ROOT}/tests/nixpkgs-standin/lib.nix;
                    legacyPackages = {{ x86_64-linux = pkgs; aarch64-linux = pkgs; }}; }};
        flake = import {ROOT}/flake.nix;
        self = flake.outputs {{ inherit self nixpkgs; }};
      in {attr}
    """
    return nix_instantiate("--eval", "--strict", "--json", "-E", expr)


def test_project_package_disables_test_marks_the_nixpkgs_way():
    r = _project_flake("{ inherit (self.packages.x86_64-linux.tatara-build) disabledTestMarks; "
                       "flags = self.packages.x86_64-linux.tatara-build.pytestFlagsArray or [ ]; }")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["disabledTestMarks"] == ["compile", "kernel", "nix"]
    # pytestCheckHook word-splits pytestFlagsArray: no element may hold a space
    assert not [f for f in data["flags"] if " " in f]


def test_project_dev_shell_uses_no_nixpkgs_alias():
    r = _project_flake("let ps = self.devShells.x86_64-linux.default.packages; "
                       "in builtins.deepSeq ps (builtins.length ps)")
    assert r.returncode == 0, r.stderr  # pkgs.bpftool (an alias of bpftools) fails here
    assert json.loads(r.stdout) >= 10

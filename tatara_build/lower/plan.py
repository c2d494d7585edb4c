"""Project -> RenderPlan: every file to write, as template + context or bytes (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tatara_build.diagnostics import Diagnostic
from tatara_build.lower.aya import CrateContext, lower_policy
from tatara_build.lower.cargo_lock import aya_ebpf_version, render_lock
from tatara_build.lower.naming import snake
from tatara_build.model.ir import Project, attest_value
from tatara_build.resources import nix_lib_dir


@dataclass(frozen=True)
class PlannedFile:
    path: str  # relative to the output root, always with `/`
    template: str | None = None  # templates/<template>
    context: dict | None = None
    text: str | None = None  # literal text (Cargo.lock)
    copy_from: Path | None = None  # a user file copied as is (.rs bodies, .bpf.o)
    prefix: str = ""  # prepended to a copied text file (the banner)


@dataclass
class RenderPlan:
    files: list[PlannedFile] = field(default_factory=list)
    crates: list[CrateContext] = field(default_factory=list)
    project_hash: str = ""


CRATE_TEMPLATES = [
    ("Cargo.toml", "crate/Cargo.toml.j2"),
    (".cargo/config.toml", "crate/config.toml.j2"),
    ("src/main.rs", "crate/main.rs.j2"),
    ("src/maps.rs", "crate/maps.rs.j2"),
    ("README.md", "crate/README.md.j2"),
]


def plan_crate(ctx: CrateContext) -> list[PlannedFile]:
    base = ctx.policy
    common = {"crate": ctx, "spec_hash": ctx.spec_hash, "aya_ebpf_version": aya_ebpf_version()}
    files: list[PlannedFile] = []
    for obj in ctx.objects:
        files.append(PlannedFile(f"{base}/objects/{obj.name}.bpf.o", copy_from=obj.source))
    if not ctx.has_crate:
        return files
    files += [PlannedFile(f"{base}/{rel}", tpl, common) for rel, tpl in CRATE_TEMPLATES]
    files.append(PlannedFile(f"{base}/Cargo.lock", text=render_lock(ctx.package)))
    if ctx.bodies:
        files.append(PlannedFile(f"{base}/src/bodies.rs", "crate/bodies.rs.j2", common))
    if ctx.uses_rt:
        files.append(PlannedFile(f"{base}/src/rt.rs", "crate/rt.rs.j2", common))
    if ctx.globals:
        files.append(PlannedFile(f"{base}/src/globals.rs", "crate/globals.rs.j2", common))
    if ctx.records:
        files.append(PlannedFile(f"{base}/src/records.rs", "crate/records.rs.j2", common))
    if ctx.rust_programs:
        files.append(PlannedFile(f"{base}/src/programs/mod.rs", "crate/programs_mod.rs.j2", common))
        for rp in ctx.rust_programs:
            files.append(PlannedFile(
                f"{base}/src/programs/{rp.ident.removeprefix('r#')}.rs", copy_from=rp.source,
                prefix=f"// Copied by tatara-build from {rp.source.name} "
                       f"(spec {ctx.spec_hash[:16]}); edit the original.\n"))
    return files




def plan(project: Project) -> tuple[RenderPlan, list[Diagnostic]]:
    """One crate (plus carried objects) per policy, in policy-name order, and a flake
    (`flake.nix` + `policies.nix`) whose packages build every policy."""
    out = RenderPlan()
    diags: list[Diagnostic] = []
    for pol in sorted(project.policies, key=lambda p: snake(p.spec.name)):
        ctx, d = lower_policy(project, pol.spec.name)
        diags += d
        out.crates.append(ctx)
        out.files += plan_crate(ctx)
    out.project_hash = attest_value([c.spec_hash for c in out.crates])
    common = {"crates": out.crates, "spec_hash": out.project_hash}
    out.files.append(PlannedFile("flake.nix", "nix/flake.nix.j2", common))
    out.files.append(PlannedFile("policies.nix", "nix/policies.nix.j2", common))
    out.files += plan_flake_extras(common)
    return out, diags


# The nixpkgs the rendered flake.lock pins (nixos-unstable, mid 2026: its rustc ships
# `core` for bpfel-unknown-none and its bpf-linker is built against rustc.llvm).
NIXPKGS_PIN = {"rev": "567a49d1913ce81ac6e9582e3553dd90a955875f", "lastModified": 1781577229,
               "narHash": "sha256-lrp67w8AulE9Ks53n27I45ADSzbOCn4H+CNW1Ck8B+8="}


def plan_flake_extras(common: dict) -> list[PlannedFile]:
    """flake.lock (nixpkgs pinned) and the Nix library carried in tatara-nix/, so the
    rendered flake builds with no edits and no tatara-build input."""
    files = [PlannedFile("flake.lock", "nix/flake.lock.j2", {**common, "nixpkgs": NIXPKGS_PIN})]
    lib = nix_lib_dir()
    for f in sorted(lib.glob("*.nix")):
        files.append(PlannedFile(f"tatara-nix/{f.name}", copy_from=f,
                                 prefix=f"# Copied by tatara-build from nix/{f.name}.\n"))
    return files

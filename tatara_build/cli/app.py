"""The `tatara-build` typer app: thin wrappers that hand each verb to `run_verb`.

Why typer (and rich): one annotated function per verb gives parsing, --help and usage
errors (exit 2) without hand-written argparse; rich draws the build progress and the
packet-test table. Verb modules are imported inside each command so `--help` and
`--version` stay fast. The annotations here (and in image_verbs.py, k8s_verb.py) are
objects, not strings (no `from __future__ import annotations`): typer reads every verb's
signature at each start, and evaluating string annotations costs about 5 ms of it.
"""

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tatara_build import __version__
from tatara_build.outlayout import DEFAULT_ARTIFACTS, DEFAULT_OUT


def run_verb(fn, as_json: bool) -> None:
    """cli/common.py's one catch, imported when a verb runs (it loads the reader)."""
    from tatara_build.cli.common import run_verb as run

    run(fn, as_json)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Hermetic eBPF builds from tatara-lisp / TOML / JSON specs.")



class Backend(StrEnum):
    """`build --backend`: an Enum so typer rejects anything else as a usage error (exit 2)."""

    cargo = "cargo"
    nix = "nix"


class RuntimeName(StrEnum):
    """`--runtime` of the verbs that touch the kernel."""

    bpftool = "bpftool"
    bpfman = "bpfman"
    simulated = "simulated"


class ExportFormat(StrEnum):
    json = "json"
    toml = "toml"


class MapAction(StrEnum):
    dump = "dump"
    get = "get"
    set = "set"


Paths = Annotated[list[Path], typer.Argument(help="spec files or folders")]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output for CI")]


@app.command()
def check(paths: Paths, as_json: Json = False) -> None:
    """Read and validate specs; report every problem."""
    from tatara_build.cli import check as check_mod

    run_verb(lambda: check_mod.check(paths, as_json), as_json)


@app.command()
def fmt(paths: Paths,
        check_only: Annotated[bool, typer.Option("--check", help="list files that would change; exit 1 if any")] = False,
        as_json: Json = False) -> None:
    """Rewrite .tlisp files in the canonical keyword style (comments kept)."""
    from tatara_build.cli import spec_verbs

    run_verb(lambda: spec_verbs.fmt(paths, check_only, as_json), as_json)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the TOML/JSON spec form."""
    from tatara_build.cli import spec_verbs

    run_verb(spec_verbs.schema, False)


@app.command()
def export(paths: Paths,
           fmt_name: Annotated[ExportFormat, typer.Option("--format", help="json or toml")] = ExportFormat.json,
           out: Annotated[Path | None, typer.Option("-o", "--out", help="write here instead of stdout")] = None,
           as_json: Json = False) -> None:
    """Write the project in the wire form (sorted, deterministic)."""
    from tatara_build.cli import spec_verbs

    run_verb(lambda: spec_verbs.export(paths, fmt_name.value, out), as_json)


@app.command()
def render(paths: Paths,
           out: Annotated[Path, typer.Option("-o", "--out", help="output folder: OUT/crates, OUT/artifacts, OUT/target")] = DEFAULT_OUT,
           check_only: Annotated[bool, typer.Option("--check", help="write nothing; exit 1 listing what would change")] = False,
           as_json: Json = False) -> None:
    """Lower each policy to an aya crate (plus carried .bpf.o objects) and a flake."""
    from tatara_build.cli import render as render_mod

    run_verb(lambda: render_mod.render(paths, out, check_only, as_json), as_json)


@app.command()
def build(paths: Paths,
          out: Annotated[Path, typer.Option("-o", "--out", help="output folder: OUT/crates, OUT/artifacts, OUT/target")] = DEFAULT_OUT,
          backend: Annotated[Backend, typer.Option(help="cargo (local toolchain) or nix (nix build of the rendered flake)")] = Backend.cargo,
          verify_reproducible: Annotated[bool, typer.Option("--verify-reproducible", help="build twice in two folders and compare")] = False,
          verify: Annotated[bool, typer.Option("--verify", help="load each object into the kernel (scratch pins) so the verifier judges it")] = False,
          target_dir: Annotated[Path | None, typer.Option("--target-dir", help="cargo target folder (default: one per user and toolchain under ~/.cache/tatara-build/target, so new -o folders reuse compiled aya-ebpf)")] = None,
          verbose: Annotated[bool, typer.Option("-v", "--verbose", help="echo each command")] = False,
          nixpkgs: Annotated[str | None, typer.Option("--nixpkgs", help="--backend nix: override the rendered flake's pinned nixpkgs (`standin`, a folder, or a flake ref)")] = None,
          as_json: Json = False) -> None:
    """Render, compile each policy to a BPF object, write artifacts + manifest."""
    from tatara_build.cli import build as build_mod

    run_verb(lambda: build_mod.build(paths, out, backend.value, as_json, verify_reproducible, verbose,
                                     verify, target_dir, nixpkgs), as_json)


SetGlobal = Annotated[list[str] | None, typer.Option("--set", help="NAME=VALUE: a defbpf-global's value for this load (repeatable)")]


@app.command(name="test")
def test_cmd(paths: Paths,
             out: Annotated[Path, typer.Option("-o", "--out", help="output folder: OUT/crates, OUT/artifacts, OUT/target")] = DEFAULT_OUT,
             name: Annotated[list[str] | None, typer.Option("--name", "-k", help="run only these tests")] = None,
             target_dir: Annotated[Path | None, typer.Option("--target-dir", help="cargo target folder")] = None,
             set_: SetGlobal = None,
             as_json: Json = False) -> None:
    """Build, then run every defbpf-test through BPF_PROG_TEST_RUN; exit 1 on a failure."""
    from tatara_build.cli import test_verb

    run_verb(lambda: test_verb.test(paths, out, name, target_dir, as_json, set_ or []), as_json)


@app.command()
def package(folder: Annotated[Path, typer.Argument(help="folder holding *.bpf.o")],
            policy: Annotated[str, typer.Option(help="policy name")],
            spec_hash: Annotated[str, typer.Option("--spec-hash")] = "",
            route: Annotated[str, typer.Option(help="how the objects were built")] = "nix",
            as_json: Json = False) -> None:
    """Write .b3 files and tatara.manifest.json for objects already built (used by Nix)."""
    from tatara_build.cli import package as package_mod

    run_verb(lambda: package_mod.package(folder, policy, spec_hash, route), as_json)


@app.command()
def doctor(as_json: Json = False) -> None:
    """Report toolchains, assemblers, bpf-linker, nix and bpftool, and what each enables."""
    from tatara_build.cli import build as build_mod

    run_verb(lambda: build_mod.doctor(as_json), as_json)


Policy = Annotated[str, typer.Argument(help="policy name")]
SpecPaths = Annotated[list[Path] | None, typer.Argument(help="spec files or folders (default: .)")]
Artifacts = Annotated[Path, typer.Option("--artifacts", help="the build's artifacts folder (OUT/artifacts)")]
Root = Annotated[Path | None, typer.Option("--pin-root", help="bpffs folder for pins (default /sys/fs/bpf/tatara)")]
Runtime = Annotated[RuntimeName, typer.Option("--runtime", help="bpftool (the kernel), bpfman, or simulated (dry run)")]
Image = Annotated[str | None, typer.Option("--image", help="pull this OCI image (registry ref) and use its artifacts")]


def _src(image: str | None, policy: str, artifacts: Path, refresh: bool = True) -> Path:
    from tatara_build.cli.image_verbs import source

    return source(image, policy, artifacts, refresh)


@app.command()
def plan(policy: Policy, paths: SpecPaths = None, artifacts: Artifacts = DEFAULT_ARTIFACTS,
         runtime: Runtime = RuntimeName.bpftool, pin_root: Root = None, image: Image = None,
         set_: SetGlobal = None, as_json: Json = False) -> None:
    """Show what `apply` would do against the live kernel."""
    from tatara_build.cli import runtime_verbs as rv

    run_verb(lambda: rv.plan(policy, paths or [], _src(image, policy, artifacts), runtime.value, pin_root, as_json,
                             set_ or []), as_json)


@app.command()
def apply(policy: Policy, paths: SpecPaths = None, artifacts: Artifacts = DEFAULT_ARTIFACTS,
          runtime: Runtime = RuntimeName.bpftool, pin_root: Root = None,
          netns: Annotated[str | None, typer.Option("--netns", help="network namespace (under /run/netns) for xdp/tc")] = None,
          image: Image = None, set_: SetGlobal = None, as_json: Json = False) -> None:
    """Create maps, load and attach the policy; undo everything on failure."""
    from tatara_build.cli import runtime_verbs as rv

    run_verb(lambda: rv.apply(policy, paths or [], _src(image, policy, artifacts), runtime.value, pin_root, netns, as_json,
                              set_ or []), as_json)


@app.command()
def status(policy: Policy, paths: SpecPaths = None, artifacts: Artifacts = DEFAULT_ARTIFACTS,
           pin_root: Root = None, image: Image = None, as_json: Json = False) -> None:
    """Compare the policy with what is live (missing, extra, different tag); exit 1 on drift."""
    from tatara_build.cli import runtime_verbs as rv

    run_verb(lambda: rv.status(policy, paths or [], _src(image, policy, artifacts, False), pin_root, as_json), as_json)


@app.command()
def detach(policy: Policy, paths: SpecPaths = None, artifacts: Artifacts = DEFAULT_ARTIFACTS,
           pin_root: Root = None,
           netns: Annotated[str | None, typer.Option("--netns", help="network namespace the policy was applied in (as given to apply)")] = None,
           image: Image = None, as_json: Json = False) -> None:
    """Remove everything the policy owns, and nothing else."""
    from tatara_build.cli import runtime_verbs as rv

    run_verb(lambda: rv.detach(policy, paths or [], _src(image, policy, artifacts, False), pin_root, as_json, netns), as_json)


@app.command(name="map")
def map_cmd(action: Annotated[MapAction, typer.Argument(help="dump, get or set")], policy: Policy,
            name: Annotated[str, typer.Argument(help="map name")], paths: SpecPaths = None,
            key: Annotated[str | None, typer.Option(help="integer or hex:..")] = None,
            value: Annotated[str | None, typer.Option(help="integer or hex:..")] = None,
            pin_root: Root = None, artifacts: Artifacts = DEFAULT_ARTIFACTS,
            image: Image = None, as_json: Json = False) -> None:
    """Read and write a pinned map by its spec's key and value sizes."""
    from tatara_build.cli.map_verb import map_verb

    run_verb(lambda: map_verb(action.value, policy, name, paths or [], key, value, pin_root, as_json,
                              _src(image, policy, artifacts, False)), as_json)


@app.command()
def events(policy: Policy, name: Annotated[str, typer.Argument(help="ring-buf or perf-event-array map")],
           paths: SpecPaths = None,
           count: Annotated[int | None, typer.Option(min=1, help="stop after N records")] = None,
           timeout: Annotated[float | None, typer.Option(min=0, help="stop after S seconds")] = None,
           pin_root: Root = None, as_json: Json = False) -> None:
    """Print the records a policy's programs emit, one per line, until Ctrl-C."""
    from tatara_build.cli.events_verb import events_verb

    run_verb(lambda: events_verb(policy, name, paths or [], count, timeout, pin_root, as_json),
             as_json)


@app.command(name="tp-format")
def tp_format(target: Annotated[str, typer.Argument(help="CATEGORY/EVENT")],
              name: Annotated[str | None, typer.Option(help="struct name")] = None) -> None:
    """Print a tracepoint's record layout as a defbpf-struct (for tp-field)."""
    from tatara_build.cli.tp_format_verb import tp_format as run

    run_verb(lambda: run(target, name), False)


def _version(value: bool) -> None:
    if value:
        print(f"tatara-build {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
          allow_outside_sources: Annotated[bool, typer.Option(
              "--allow-outside-sources",
              help="let program sources live outside the spec's folder (absolute, ../, symlinks)")] = False,
          ) -> None:
    """tatara-build"""
    if allow_outside_sources:  # read by validate/sources.py, in this process and its children
        import os

        os.environ["TATARA_ALLOW_OUTSIDE_SOURCES"] = "1"


from tatara_build.cli.image_verbs import image_app  # noqa: E402 (image build|push|pull)

app.add_typer(image_app, name="image")
from tatara_build.cli.k8s_verb import k8s_cmd  # noqa: E402

app.command(name="k8s")(k8s_cmd)


def main() -> None:
    # tatara-build uses no pydantic plugin; not scanning every installed distribution for
    # one saves a noticeable part of `schema`, the one verb that loads pydantic.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    app()

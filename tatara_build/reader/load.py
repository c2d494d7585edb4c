"""Read spec files and folders into one Project (names resolve across files)."""

from __future__ import annotations

from pathlib import Path

from tatara_build.diagnostics import Diagnostic, SourceCache, error
from tatara_build.errors import SpecError
from tatara_build.model.ir import Project
from tatara_build.reader import lisp, structured
from tatara_build.reader.files import SKIP_DIRS, SPEC_SUFFIXES, discover  # noqa: F401
from tatara_build.reader.forms import compile_forms
from tatara_build.reader.limits import MAX_FILE_BYTES


def _sink(project: Project):
    def add(kind: str, obj) -> None:
        if kind == "defbpf-program":
            project.programs.append(obj)
        elif kind == "defbpf-map":
            project.maps.append(obj)
        elif kind == "defbpf-policy":
            project.policies.append(obj)
        elif kind == "defbpf-test":
            project.tests.append(obj)
        elif kind == "defbpf-struct":
            project.structs.append(obj)
        elif kind == "broken":
            project.broken.add(obj)
        elif kind == "bpf-fn":
            project.bpf_fns.setdefault((obj.file, obj.name), obj)
    return add


def read_file(path: Path, project: Project, sources: SourceCache, explicit: bool) -> list[Diagnostic]:
    """Read one file into `project`; syntax errors become diagnostics, not exceptions."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [error(f"{file}: {size} bytes; spec files are at most {MAX_FILE_BYTES} bytes",
                          help='see README.md, "Input limits"')]
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [error(f"no such spec file: {file}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [error(f"cannot read {file}: {exc}")]
    sources.texts[file] = text
    if path.suffix == ".tlisp":
        try:
            forms = lisp.read(text, file)
        except SpecError as exc:
            return exc.diagnostics
        project.files.append(file)
        return compile_forms(forms, file, _sink(project))
    if path.suffix not in (".toml", ".json"):
        return [error(f"{file}: not a spec file (expected .tlisp, .toml or .json)")]
    data, diags = structured.parse_text(text, file)
    if diags:
        return diags
    if not explicit and not structured.is_spec_document(data):
        return []  # a folder may hold other JSON/TOML (manifests, lock files)
    project.files.append(file)
    return structured.compile_document(data, text, file, _sink(project))


def load(paths: list[Path], sources: SourceCache | None = None) -> tuple[Project, list[Diagnostic]]:
    """All files -> one Project plus every reader diagnostic (nothing raised)."""
    sources = sources if sources is not None else SourceCache()
    project = Project()
    diags: list[Diagnostic] = []
    for p in paths:
        if not p.exists():
            diags.append(error(f"no such file or folder: {p}"))
    files = discover([p for p in paths if p.exists()])
    explicit = {p.resolve() for p in paths if p.is_file()}
    for f in files:
        diags += read_file(f, project, sources, f.resolve() in explicit)
    if not files and not diags:
        diags.append(error("no spec files (.tlisp, .toml, .json) found in "
                           + ", ".join(str(p) for p in paths)))
    return project, diags


def bpf_fn_file_forms(path: Path, project: Project, sources: SourceCache) -> None:
    """Make sure `path`'s bpf-fns are in the project (a TOML program may name a .tlisp)."""
    file = str(path)
    if file in project.fn_files_tried or file in project.files or not path.is_file():
        return
    project.fn_files_tried.add(file)
    try:
        text = path.read_text(encoding="utf-8")
        sources.texts[file] = text
        forms = lisp.read(text, file)
    except (OSError, UnicodeDecodeError, SpecError):
        return
    compile_forms([f for f in forms if f.kind == "list" and f.items and f.items[0].value == "bpf-fn"],
                  file, _sink(project))
    project.files.append(file)

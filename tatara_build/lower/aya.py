"""Policy -> the context of one aya crate (pure: no disk, no subprocess).

One crate per policy gives one object whose programs share the policy's maps.
Programs whose source is a `.bpf.o` are not in the crate: they are carried to the
output as they are. A policy with only such programs gets no crate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.lower.bpf_fn import lower_bpf_fn, project_globals
from tatara_build.lower.naming import kebab, rust_ident, snake
from tatara_build.model.ir import ByIdent, Located, MapSpec, ProgramSpec, Project
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS, kernel_shape, target_fields
from tatara_build.model.records import StructSpec, layout, rust_field_type, rust_name
from tatara_build.model.sources import classify, resolve

SCALAR = {4: "u32", 8: "u64"}


def rust_type(size: int) -> str:
    return SCALAR.get(size, f"[u8; {size}]")


def map_decl(m: MapSpec) -> str:
    """`pub static NAME: btf_maps::T<...> = btf_maps::T::new();`, wrapped as rustfmt does."""
    kind = MAP_KINDS[m.kind]
    t, n = kind.aya_type, kernel_shape(m.kind, m.key_size, m.value_size, m.max_entries)[2]
    key = f"crate::records::{rust_name(m.key_struct)}" if m.key_struct else rust_type(m.key_size)
    value = (f"crate::records::{rust_name(m.value_struct)}" if m.value_struct and kind.keyed
             else rust_type(m.value_size))
    generics = kind.aya_generics.format(
        key=key, value=value, n=n,
        value_words=m.value_size // 8, prefix_bytes=m.key_size - 4)
    head = f"pub static {rust_ident(m.name)}: btf_maps::{t}{generics} ="
    init = f"btf_maps::{t}::new();"
    one = f"{head} {init}"
    return one if len(one) <= 100 else f"{head}\n    {init}"


def attribute(p: ProgramSpec) -> str:
    """The aya attribute with its arguments, from the kind row and the attach target."""
    kind = PROGRAM_KINDS[p.kind]
    fields = target_fields(p.attach.target, p.attach.direction)
    return f"aya_ebpf::macros::{kind.attribute}" + kind.attr_args.format(**fields)


def section(p: ProgramSpec) -> str:
    """The ELF section aya emits for `attribute(p)` (the build checks it)."""
    kind = PROGRAM_KINDS[p.kind]
    return kind.section + kind.section_arg.format(**target_fields(p.attach.target, p.attach.direction))


def rust_byte_string(text: str) -> tuple[str, int]:
    """`b"...\\0"` for `text` (every non-printable or non-ASCII byte escaped) and its length."""
    raw = text.encode() + b"\0"
    out = []
    for byte in raw:
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return 'b"' + "".join(out) + '"', len(raw)


@dataclass(frozen=True)
class ProgramEntry:
    """One program function of the crate (templates/crate/main.rs.j2, README.md.j2)."""

    spec_name: str
    ident: str
    kind_wire: str
    attribute: str  # the aya attribute with its arguments
    context: str
    ret: str
    shape: str  # rust | lisp (model/sources.py)
    target: str
    direction: str | None
    section: str  # the ELF section aya emits for it (the build checks it)
    default_code: str  # the kind's default verdict as Rust


@dataclass(frozen=True)
class MapEntry:
    """One map static (templates/crate/maps.rs.j2)."""

    spec_name: str
    ident: str
    attr_args: str  # `(name = "...")` when the ident is a raw `r#` one
    kind_wire: str
    key_size: int
    value_size: int
    max_entries: int
    decl: str


@dataclass(frozen=True)
class BodyEntry:
    """One lowered bpf-fn (templates/crate/bodies.rs.j2)."""

    ident: str
    fn_name: str
    program: str
    location: str  # file:line:col of the bpf-fn form
    ctx_param: str
    context: str
    ret: str
    code: str
    spans: tuple = ()  # per line of `code`: the Span of its spec form (lower/linetable.py)


@dataclass(frozen=True)
class RustProgram:
    """A `.rs` body copied to src/programs/<ident>.rs."""

    ident: str
    source: Path


@dataclass
class CarriedObject:
    """A `.bpf.o` carried as it is; one per file, whichever programs it serves."""

    name: str
    source: Path
    spec_name: str
    spec_names: list[str]
    shown: str  # the path as the spec writes it, for messages


@dataclass
class CrateContext:
    policy: str
    package: str
    bin: str
    description: str
    spec_hash: str
    programs: list[ProgramEntry] = field(default_factory=list)
    maps: list[MapEntry] = field(default_factory=list)
    bodies: list[BodyEntry] = field(default_factory=list)
    rust_programs: list[RustProgram] = field(default_factory=list)
    objects: list[CarriedObject] = field(default_factory=list)
    globals: list[dict] = field(default_factory=list)  # defbpf-globals: globals.rs.j2
    records: list[dict] = field(default_factory=list)  # defbpf-structs: templates/crate/records.rs.j2
    license_literal: str = ""
    license_len: int = 0
    uses_rt: bool = False
    body_structs: set[str] = field(default_factory=set)

    @property
    def has_bodies(self) -> bool:
        return bool(self.bodies)

    @property
    def has_crate(self) -> bool:
        return bool(self.programs)


def _program_entry(p: Located[ProgramSpec], shape: str) -> ProgramEntry:
    s = p.spec
    kind = PROGRAM_KINDS[s.kind]
    return ProgramEntry(s.name, rust_ident(s.name), s.kind, attribute(s), kind.context, kind.ret,
                        shape, s.attach.target, s.attach.direction, section(s),
                        kind.actions[kind.default_action])


def lower_policy(project: Project, name: str) -> tuple[CrateContext, list[Diagnostic]]:
    """The crate context of policy `name` (validated project assumed)."""
    pol = project.policy(name)
    assert pol is not None
    ctx = CrateContext(policy=snake(name), package=f"{kebab(snake(name))}-ebpf",
                       bin=snake(name), description=pol.spec.description,
                       spec_hash=project.policy_hash(name))
    maps = ByIdent({m: loc.spec for m in pol.spec.maps if (loc := project.map(m)) is not None})
    diags: list[Diagnostic] = []
    licenses: dict[str, str] = {}
    for prog_name in pol.spec.programs:
        p = project.program(prog_name)
        if p is None:
            continue
        diags += _lower_program(project, p, maps, ctx, licenses)
    for m in maps.values():
        diags += _map_entry(project, m, ctx)
    ctx.globals = [{"spec_name": g.spec.name, "ident": rust_ident(g.spec.name),
                    "type": g.spec.rust_type, "default": g.spec.default,
                    "description": g.spec.description}
                   for g in sorted(project.globals, key=lambda g: snake(g.spec.name))]
    _records(project, maps, ctx)
    if len(set(licenses.values())) > 1:
        detail = ", ".join(f"`{k}`: \"{v}\"" for k, v in licenses.items())
        diags.append(error(f"policy `{name}`: programs built into one object must share a license "
                           f"(one `license` section), got {detail}", pol.span("programs")))
    lic = next(iter(licenses.values()), "GPL")
    ctx.license_literal, ctx.license_len = rust_byte_string(lic)
    return ctx, diags


def _lower_program(project: Project, p: Located[ProgramSpec], maps: dict[str, MapSpec],
                   ctx: CrateContext, licenses: dict[str, str]) -> list[Diagnostic]:
    src = classify(p.spec.source)
    if src is None:
        return []
    path = resolve(p.file, src.path)
    if src.shape == "object":
        _carry(ctx, p.spec.name, path, src.path)
        return []
    licenses[p.spec.name] = p.spec.license
    entry = _program_entry(p, src.shape)
    ctx.programs.append(entry)
    if src.shape == "rust":
        ctx.rust_programs.append(RustProgram(entry.ident, path))
        ctx.uses_rt = True  # the .rs contract offers crate::rt (packet reads, atomic adds)
        return []
    fn = project.bpf_fn(path, src.fn)
    if fn is None:
        return [error(f"program `{p.spec.name}`: bpf-fn `{src.fn}` not found", p.span("source"))]
    structs = ByIdent({s.spec.name: s.spec for s in project.structs})
    helpers = {n: project.bpf_fn(path, n) for n in project.bpf_fns_in(path)}
    body, diags = lower_bpf_fn(fn, p.spec, maps, structs, helpers,  # type: ignore[arg-type]
                               globals_=project_globals(project))
    if body is None:
        return diags
    ctx.body_structs |= body.structs
    ctx.uses_rt = ctx.uses_rt or body.uses_pkt or any("crate::rt::" in ln for ln in body.lines)
    kind = PROGRAM_KINDS[p.spec.kind]
    ctx.bodies.append(BodyEntry(
        entry.ident, fn.name, p.spec.name, f"{Path(fn.span.file).name}:{fn.span.line}:{fn.span.col}",
        "ctx" if body.uses_ctx else "_ctx", kind.context, kind.ret, "\n".join(body.lines),
        tuple(sp for ln, sp in zip(body.lines, body.spans, strict=True)
              for _ in range(ln.count("\n") + 1))))
    return diags


def _carry(ctx: CrateContext, program: str, path: Path, written: str) -> None:
    """One carried object per source file, however many programs it serves (loaded once);
    `shown` is the path as the spec writes it, for messages."""
    for obj in ctx.objects:
        if obj.source == path:
            obj.spec_names.append(program)
            return
    ctx.objects.append(CarriedObject(snake(program), path, program, [program], written))


def _map_entry(project: Project, m: MapSpec, ctx: CrateContext) -> list[Diagnostic]:
    if MAP_KINDS[m.kind].cpu_sized and m.max_entries != 0:
        loc = project.map(m.name)
        return [error(f"map `{m.name}`: aya's PerfEventArray sizes itself to the CPU count; "
                      "use :max-entries 0", loc.span("max_entries") if loc else None)]
    ident = rust_ident(m.name)
    # aya's macro exports the ident's text, `r#type` for a keyword: name the symbol
    attr_args = f'(name = "{snake(m.name)}")' if ident.startswith("r#") else ""
    ctx.maps.append(MapEntry(m.name, ident, attr_args, m.kind, m.key_size, m.value_size,
                             m.max_entries, map_decl(m)))
    return []


def _records(project: Project, maps: dict[str, MapSpec], ctx: CrateContext) -> None:
    """The records the crate declares: those of its maps and those its bodies build."""
    names = set(ctx.body_structs)
    for m in maps.values():
        names |= {n for n in (m.key_struct, m.value_struct) if n}
    for name in sorted(names):
        s = project.struct(name)
        if s is not None:
            ctx.records.append(record_entry(s.spec))


def record_entry(spec: StructSpec) -> dict:
    """One `#[repr(C)]` struct for templates/crate/records.rs.j2, with its ZERO literal."""
    fields = [{"ident": rust_ident(f.name), "type": rust_field_type(f.type),
               "zero": "0" if rust_field_type(f.type) == f.type else f"[0; {rust_field_type(f.type)[5:-1]}]"}
              for f in spec.fields]
    inner = ", ".join(f"{f['ident']}: {f['zero']}" for f in fields)
    return {"ident": rust_name(spec.name), "spec_name": spec.name, "size": layout(spec).size,
            "fields": fields, "zero_inline": len(inner) <= 18 - 2, "zero_inner": inner}

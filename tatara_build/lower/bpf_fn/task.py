"""`(task-field NAME [task])`: a field of the current task (or of a task pointer), such as
`ppid`, read with bpf_probe_read_kernel at offsets the runtime fills in at load.

libbpf-bootstrap's bootstrap.bpf.c reads `BPF_CORE_READ(task, real_parent, tgid)`, which
CO-RE relocates per kernel; aya has no field relocations, so each hop's offset is a
`.rodata` static the body reads with a volatile load (as `(global …)` does, see
global_vars.py), named so runtime/kbtf.py can answer it from the running kernel's BTF
before the object is loaded. Until patched the static holds KOFF_UNSET and the field
reads 0, so an object loaded by another tool never dereferences a wrong offset. The
table of fields is lower/dsl_tables.py's TASK_FIELDS.
"""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.helpers import available
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.lower.naming import snake
from tatara_build.model.kinds import PROGRAM_KINDS
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node


def koff_symbol(program: str, struct: str, field: str) -> str:
    """The `.rodata` symbol holding `struct.field`'s offset for `program` (unique per
    program: every body of a crate lands in one object)."""
    return f"{T.KOFF_PREFIX}{snake(program).upper()}__{struct.upper()}__{field.upper()}"


def _hop(low: Lowering, task: str, struct: str, field: str) -> str:
    """`task->field` (templates/crate/rt.rs `kfield_*`): 0 when the offset was never
    filled in or the read faults (a null task: reads below kernel space fault)."""
    sym = koff_symbol(low.program.name, struct, field)
    decl = f"    static {sym}: u32 = crate::rt::KOFF_UNSET;"
    if decl not in low.lines:  # once per body, at its top: visible in every block
        low.lines[0:0] = ["    #[unsafe(no_mangle)]", decl]
    size = T.KERNEL_FIELDS[(struct, field)]
    return low.temp(f"crate::rt::kfield_u{size * 8}({task}, &{sym})")


@form("task-field")
def lower_task_field(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if not 1 <= len(args) <= 2 or args[0].kind != "sym":
        raise LowerError("`(task-field NAME [task])` takes a field name and, optionally, a "
                         "task pointer (default: the current task)", node,
                         "e.g. `(task-field ppid)` or `(task-field tgid (task-field real-parent))`")
    name = str(args[0].value)
    hops = T.TASK_FIELDS.get(name)
    if hops is None:
        hint = suggest(name, list(T.TASK_FIELDS))
        raise LowerError(f"unknown task field `{name}`", args[0],
                         (f"did you mean `{hint}`? " if hint else "")
                         + "task fields: " + ", ".join(T.TASK_FIELDS))
    if "probe-read-kernel-u64" not in available(low):
        tracing = [w for w, k in PROGRAM_KINDS.items() if k.kernel_type in T.TRACING]
        raise LowerError(f"`task-field` is not allowed in `{low.program.kind}` programs (it "
                         "needs bpf_probe_read_kernel and the current task, which the kernel "
                         "gives tracing programs)", node, "allowed in " + ", ".join(tracing))
    if len(args) == 2:
        task = low.as_u64(args[1])
    else:
        task = low.temp(T.BPF_HELPERS["get-current-task"].rust)
    for struct, field in hops:
        task = _hop(low, task, struct, field)
    return Val(task, Ty.U64)

"""Packet writes: `(store-u8|16|32 ctx off value)` and field setters with checksum fix-ups.

Stores write network byte order at an offset, bounds-checked like `load-*` (a packet too
short for the store returns the kind's default verdict, nothing written); literal and
computed offsets alike go through one asm check-and-store (`var_store!` in rt.rs), the
shape the verifier proves. Setters
(`set-ipv4-src`, `set-l4-dport`, `swap-macs`, ... table SETTERS in lower/dsl_tables.py)
change one header field and fix every checksum covering it incrementally (RFC 1624,
`PktW::set_*` in templates/crate/rt.rs, which takes the headers from the body's one
parse, `pkt.parse::<3>()`, at the first setter: the headers as they were when the body
started). Only kernel program types with writable direct
packet access (PACKET_WRITES: xdp, sched_cls) may write; anywhere else the kernel would
refuse the program at load, so it is a located error here.
"""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.model.kinds import PROGRAM_KINDS
from tatara_build.reader.lisp import Node

PKTW_INIT = "    let pw = crate::rt::PktW::new(&pkt, &hdr);"
# tc keeps the skb for its checksum state (rt.rs `PktW::csum_update`).
PKTW_INIT_SKB = "    let pw = crate::rt::PktW::new_skb(&pkt, &hdr, ctx.skb.skb);"


def _writers() -> str:
    return " and ".join(w for w, k in PROGRAM_KINDS.items() if k.kernel_type in T.PACKET_WRITES)


def _writable(low: Lowering, op: str, node: Node) -> None:
    """Refuse a packet write where the kernel has no writable packet for this kind."""
    kind = low.kind
    if kind.kernel_type in T.PACKET_WRITES and kind.packet_base is not None:
        low.uses_ctx = low.uses_pkt = True
        return
    why = ("the kernel gives them read-only packet access" if kind.packet_base is not None
           or kind.context == "SkBuffContext" else "they have no packet")
    raise LowerError(f"`({op} …)` writes the packet; `{low.program.kind}` programs cannot "
                     f"({why})", node, f"packet writes work in {_writers()} programs")


def _value(low: Lowering, node: Node, bits: int, what: str) -> str:
    """The value to write; a literal that does not fit in `bits` is an error, not a truncation."""
    if node.kind == "int" and not 0 <= int(node.value) < 1 << bits:  # type: ignore[arg-type]
        raise LowerError(f"{what} is {bits} bits wide; {node.value} does not fit", node,
                         f"use a value below {1 << bits}")
    return low.as_u64(node)


def _shape(low: Lowering, node: Node, args: list[Node], shape: str) -> None:
    op = str(node.items[0].value)
    ctx = low.ctx_names[0] if low.ctx_names else "ctx"
    if len(args) != len(shape.split()) + 1 or not low.is_ctx(args[0]):
        raise LowerError(f"`({op} …)` takes the context `{ctx}`{' ' + shape if shape else ''}",
                         node, f"write `({op} {ctx}{' ' + shape if shape else ''})`")


@form(*T.STORES)
def lower_store(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    _shape(low, node, args, "offset value")
    _writable(low, op, node)
    method, bits = T.STORES[op]
    off = low.as_u64(args[1])
    value = _value(low, args[2], bits, f"`{op}` writes {bits // 8} byte(s): the value")
    low.emit(f"pkt.{method}({off}, {value})?;")
    return Val("", Ty.UNIT)


@form(*T.SETTERS)
def lower_setter(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    setter = T.SETTERS[op]
    _shape(low, node, args, "value" if setter.bits else "")
    _writable(low, op, node)
    if setter.l4_sum and low.kind.kernel_type in T.PARTIAL_CSUM_EGRESS \
            and low.program.attach.direction == "egress":
        raise LowerError(f"`({op} …)` on egress: locally sent TCP/UDP packets there carry a "
                         "partial checksum (CHECKSUM_PARTIAL) that a full-checksum fix-up "
                         "would corrupt", node, "rewrite on ingress, or in xdp")
    if setter.needs_eth and not low.kind.has_ethernet:
        raise LowerError(f"`({op} …)`: `{low.program.kind}` packets start at the IP header",
                         node)
    value = _value(low, args[1], setter.bits, f"the field `{op}` writes") if setter.bits else ""
    low.uses_setters = True
    low.emit(f"pw.{setter.method}({value})?;")
    return Val("", Ty.UNIT)

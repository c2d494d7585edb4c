"""Packet forms: header accessors, loads at an offset, packet-len.

Packet reads are bounds-checked (`?` on `Option`): a packet shorter than a header
it claims makes the program return its kind's default verdict, or run its
`(on-short …)` body (short.py). Header accessors read `hdr`, the packet's headers
parsed once at the body's top (`Pkt::parse` in templates/crate/rt.rs: VLAN tags, IPv4
or IPv6 and its extension headers), as deep as the deepest accessor used
(dsl_tables.ACCESSOR_DEPTH).
"""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.reader.lisp import Node

# How a body builds its `Pkt`, by aya context type (model/kinds.py's `context` column);
# `SkBuffContext` kinds without a packet_base (socket filters) read through the skb.
# data/data_end are read by rt.rs's `ctx_field!` (one load giving 64 bits): from aya's
# `ctx.data()`, LLVM sometimes zero-extended the u32 load with `<<= 32; >>= 32`, pointer
# arithmetic the verifier refuses on a packet pointer.
_DATA = "crate::rt::ctx_field!({0}, aya_ebpf::bindings::{1}, {2}) as usize"
PKT_INIT = {
    "XdpContext": ("crate::rt::Pkt::new(\n"
                   f"        {_DATA.format('ctx.ctx', 'xdp_md', 'data')},\n"
                   f"        {_DATA.format('ctx.ctx', 'xdp_md', 'data_end')},\n"
                   "        true,\n    )"),
    "TcContext": ("crate::rt::Pkt::new(\n"
                  f"        {_DATA.format('ctx.skb.skb', '__sk_buff', 'data')},\n"
                  f"        {_DATA.format('ctx.skb.skb', '__sk_buff', 'data_end')},\n"
                  "        true,\n    )"),
    "SkBuffContext": ("crate::rt::Pkt::new(\n"
                      f"        {_DATA.format('ctx.skb.skb', '__sk_buff', 'data')},\n"
                      f"        {_DATA.format('ctx.skb.skb', '__sk_buff', 'data_end')},\n"
                      "        false,\n    )"),
}


def ctx_arg(low: Lowering, node: Node, args: list[Node], n: int) -> None:
    """Check that the form's first argument is the context and that it has `n` args."""
    op = str(node.items[0].value)
    if len(args) != n or not low.is_ctx(args[0]):
        ctx = low.ctx_names[0] if low.ctx_names else "ctx"
        extra = " offset" if n == 2 else ""
        raise LowerError(f"`({op} …)` takes the context `{ctx}`{extra}", node,
                         f"write `({op} {ctx}{extra})`")


@form("packet-len")
def lower_packet_len(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    ctx_arg(low, node, args, 1)
    low.uses_ctx = True
    if low.kind.packet_base is None and not _skb_loads(low):
        raise LowerError(f"`(packet-len …)`: `{low.program.kind}` programs have no packet", node)
    if low.kind.context == "XdpContext":
        low.uses_pkt = True
        return Val(low.temp("pkt.len()"), Ty.U64)
    return Val(low.temp(T.SKB_FIELD.format("len").replace("PTR", "ctx.skb.skb")), Ty.U64)


@form(*T.LOADS)
def lower_load(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    ctx_arg(low, node, args, 2)
    low.uses_ctx = True
    if _skb_loads(low):
        off = low.as_u64(args[1])
        return Val(low.temp(f"crate::rt::skb_{T.LOADS[op]}(ctx, {off})?"), Ty.U64)
    _needs_packet(low, op, node)
    off = low.as_u64(args[1])
    # Every explicit load goes through rt.rs's `load_var_*` (offset bounded, checked and
    # read in one asm block), a literal offset too: a plain `start + 8 > end` check of
    # a literal read once gave LLVM a branch it knew impossible (the IPv4 header was
    # checked), where it put another field's read; the verifier, which cannot tell that
    # branch is dead, marked the shared `start + 8` pointer past the end and refused it.
    method = T.LOADS[op].replace("load_", "load_var_")
    return Val(low.temp(f"pkt.{method}({off})?"), Ty.U64)


@form(*T.ACCESSORS)
def lower_accessor(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    ctx_arg(low, node, args, 1)
    low.uses_ctx = True
    _needs_packet(low, op, node)
    method, needs_eth = T.ACCESSORS[op]
    if needs_eth and not low.kind.has_ethernet:
        raise LowerError(f"`({op} …)`: `{low.program.kind}` packets start at the IP header",
                         node)
    low.hdr_depth = max(low.hdr_depth, T.ACCESSOR_DEPTH.get(op, 2))
    if op in T.ACCESSOR_BYTES:
        return Val(low.temp(f"hdr.{method}()?"), Ty.BYTES, T.ACCESSOR_BYTES[op])
    return Val(low.temp(f"hdr.{method}()?"), Ty.U64)


def _skb_loads(low: Lowering) -> bool:
    """Socket filters: an skb without direct packet access (bpf_skb_load_bytes reads)."""
    return low.kind.packet_base is None and low.kind.context == "SkBuffContext"


def _needs_packet(low: Lowering, op: str, node: Node) -> None:
    if low.kind.packet_base is None:
        raise LowerError(f"`({op} …)` reads packet headers; `{low.program.kind}` programs "
                         "have none", node, "packet accessors work in :xdp, :tc and :cgroup-skb")
    low.uses_pkt = True

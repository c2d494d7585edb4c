//! Sends a packet to an AF_XDP socket of its queue when one is bound, else tries the
//! tail-call stage 0, else redirects through `tx_port[0]` (bpf_redirect_map), with
//! XDP_PASS as the fallback when a slot is empty.
use aya_ebpf::bindings::xdp_action::XDP_PASS;
use aya_ebpf::programs::XdpContext;

use crate::maps::{cpus, stages, tx_by_ifindex, tx_port, xsks};

pub fn run(ctx: &XdpContext) -> u32 {
    // SAFETY: ctx.ctx is the kernel's xdp_md for this packet.
    let queue = unsafe { (*ctx.ctx).rx_queue_index };
    if let Ok(action) = xsks.redirect(queue, u64::from(XDP_PASS)) {
        return action;
    }
    // SAFETY: a tail call replaces this program; on failure execution continues here.
    unsafe { stages.tail_call(ctx, 0) };
    if queue == 1 {
        return cpus.redirect(0, u64::from(XDP_PASS)).unwrap_or(XDP_PASS);
    }
    if queue == 2 {
        return tx_by_ifindex
            .redirect(1, u64::from(XDP_PASS))
            .unwrap_or(XDP_PASS);
    }
    tx_port.redirect(0, u64::from(XDP_PASS)).unwrap_or(XDP_PASS)
}

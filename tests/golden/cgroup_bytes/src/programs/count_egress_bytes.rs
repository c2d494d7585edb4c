// Copied by tatara-build from cgroup_bytes.rs (spec fbcac17d098ab9a1); edit the original.
//! Adds every egress packet's length to `egress_bytes[0]` and lets it pass.
use aya_ebpf::programs::SkBuffContext;

use crate::maps::egress_bytes;

pub fn run(ctx: &SkBuffContext) -> i32 {
    let len = u64::from(ctx.len());
    if let Some(total) = egress_bytes.get_ptr_mut(0) {
        // SAFETY: the pointer comes from a successful lookup of a u64 slot.
        unsafe { crate::rt::atomic_add_u64(total, len) };
    }
    1
}

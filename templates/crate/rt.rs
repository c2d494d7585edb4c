//! Bounds-checked packet reads for lowered bpf-fn bodies.
//!
//! Every read compares `start + offset + size` with `end` before it dereferences, in
//! the shape the verifier proves safe. `None` means the packet is shorter than a
//! header it claims to have: the program then returns its kind's default verdict.
//! Fields of headers the packet does not have read as 0.

#![allow(dead_code)]

use core::ptr;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// A packet as `[start, end)`; `eth` says whether it begins with an Ethernet header.
pub struct Pkt {
    start: usize,
    end: usize,
    eth: bool,
}

impl Pkt {
    #[inline(always)]
    pub fn new(start: usize, end: usize, eth: bool) -> Self {
        Pkt { start, end, eth }
    }

    #[inline(always)]
    pub fn len(&self) -> u64 {
        (self.end - self.start) as u64
    }

    #[inline(always)]
    fn at<T: Copy>(&self, off: usize) -> Option<T> {
        let p = self.start + off;
        // A 1-byte read at offset 0 checks 2 bytes: LLVM would fold `start + 1 > end`
        // into `start >= end`, a comparison the verifier learns no packet range from.
        let need = if off == 0 && core::mem::size_of::<T>() == 1 {
            2
        } else {
            core::mem::size_of::<T>()
        };
        if p + need > self.end {
            return None;
        }
        // SAFETY: [p, p + size_of::<T>()) was checked to lie inside the packet. A plain
        // load, as aya's `ptr_at` pattern and C do: the verifier and the x86/arm64 JITs
        // accept unaligned packet loads, and `read_unaligned` would split each into bytes.
        Some(unsafe { ptr::read(p as *const T) })
    }

    #[inline(always)]
    pub fn load_u8(&self, off: u64) -> Option<u64> {
        self.at::<u8>(off as usize).map(u64::from)
    }

    #[inline(always)]
    pub fn load_u16(&self, off: u64) -> Option<u64> {
        self.at::<u16>(off as usize)
            .map(|v| u64::from(u16::from_be(v)))
    }

    #[inline(always)]
    pub fn load_u32(&self, off: u64) -> Option<u64> {
        self.at::<u32>(off as usize)
            .map(|v| u64::from(u32::from_be(v)))
    }

    /// EtherType (host order); 0 for packets without an Ethernet header.
    #[inline(always)]
    pub fn eth_proto(&self) -> Option<u64> {
        if !self.eth {
            return Some(0);
        }
        self.load_u16(12)
    }

    /// Address of a whole (20-byte) IPv4 header, `Some(None)` when the packet is not
    /// IPv4, `None` when it is cut short. One bounds check covers every fixed field,
    /// as a C author would write it.
    #[inline(always)]
    fn ipv4(&self) -> Option<Option<usize>> {
        let l3 = if self.eth {
            if u16::from_be(self.at::<u16>(12)?) != ETH_P_IP {
                return Some(None);
            }
            self.start + ETH_HLEN
        } else {
            self.start
        };
        if l3 + 20 > self.end {
            return if self.eth { None } else { Some(None) };
        }
        // SAFETY: the 20-byte header was bounds-checked above.
        let vihl = unsafe { *(l3 as *const u8) };
        Some(if vihl >> 4 == 4 { Some(l3) } else { None })
    }

    /// 4 or 6 for IP packets, 0 otherwise.
    #[inline(always)]
    pub fn ip_version(&self) -> Option<u64> {
        if self.eth {
            return Some(match u16::from_be(self.at::<u16>(12)?) {
                ETH_P_IP => 4,
                ETH_P_IPV6 => 6,
                _ => 0,
            });
        }
        Some(match self.at::<u8>(0)? >> 4 {
            4 => 4,
            6 => 6,
            _ => 0,
        })
    }

    /// A field of the (already bounds-checked) IPv4 header at `h`.
    #[inline(always)]
    fn field<T: Copy>(h: usize, off: usize) -> T {
        // SAFETY: callers pass offsets inside the bytes `ipv4`/`l4` checked (plain load:
        // see `at`).
        unsafe { ptr::read((h + off) as *const T) }
    }

    #[inline(always)]
    pub fn ip_proto(&self) -> Option<u64> {
        Some(
            self.ipv4()?
                .map_or(0, |h| u64::from(Self::field::<u8>(h, 9))),
        )
    }

    #[inline(always)]
    pub fn ip_ttl(&self) -> Option<u64> {
        Some(
            self.ipv4()?
                .map_or(0, |h| u64::from(Self::field::<u8>(h, 8))),
        )
    }

    #[inline(always)]
    pub fn ip_len(&self) -> Option<u64> {
        Some(
            self.ipv4()?
                .map_or(0, |h| u64::from(u16::from_be(Self::field(h, 2)))),
        )
    }

    #[inline(always)]
    pub fn ipv4_src(&self) -> Option<u64> {
        Some(
            self.ipv4()?
                .map_or(0, |h| u64::from(u32::from_be(Self::field(h, 12)))),
        )
    }

    #[inline(always)]
    pub fn ipv4_dst(&self) -> Option<u64> {
        Some(
            self.ipv4()?
                .map_or(0, |h| u64::from(u32::from_be(Self::field(h, 16)))),
        )
    }

    /// Address of the L4 header and the IP protocol, honouring the IPv4 header length.
    #[inline(always)]
    fn l4(&self) -> Option<Option<(usize, u8)>> {
        let h = match self.ipv4()? {
            Some(h) => h,
            None => return Some(None),
        };
        let ihl = usize::from(Self::field::<u8>(h, 0) & 0x0f) * 4;
        if ihl < 20 {
            return Some(None);
        }
        Some(Some((h + ihl, Self::field::<u8>(h, 9))))
    }

    #[inline(always)]
    fn port(&self, off: usize) -> Option<u64> {
        match self.l4()? {
            Some((l4, proto)) if proto == IPPROTO_TCP || proto == IPPROTO_UDP => {
                if l4 + 4 > self.end {
                    return None;
                }
                Some(u64::from(u16::from_be(Self::field(l4, off))))
            }
            _ => Some(0),
        }
    }

    #[inline(always)]
    pub fn l4_sport(&self) -> Option<u64> {
        self.port(0)
    }

    #[inline(always)]
    pub fn l4_dport(&self) -> Option<u64> {
        self.port(2)
    }

    /// TCP flags byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32); 0 if not TCP.
    #[inline(always)]
    pub fn tcp_flags(&self) -> Option<u64> {
        match self.l4()? {
            Some((l4, IPPROTO_TCP)) => {
                if l4 + 14 > self.end {
                    return None;
                }
                Some(u64::from(Self::field::<u8>(l4, 13)))
            }
            _ => Some(0),
        }
    }
}

/// Socket-filter reads go through bpf_skb_load_bytes (no direct packet access there).
#[inline(always)]
pub fn skb_load_u8(ctx: &aya_ebpf::programs::SkBuffContext, off: u64) -> Option<u64> {
    ctx.load::<u8>(off as usize).ok().map(u64::from)
}

#[inline(always)]
pub fn skb_load_u16(ctx: &aya_ebpf::programs::SkBuffContext, off: u64) -> Option<u64> {
    ctx.load::<u16>(off as usize)
        .ok()
        .map(|v| u64::from(u16::from_be(v)))
}

#[inline(always)]
pub fn skb_load_u32(ctx: &aya_ebpf::programs::SkBuffContext, off: u64) -> Option<u64> {
    ctx.load::<u32>(off as usize)
        .ok()
        .map(|v| u64::from(u32::from_be(v)))
}

/// Division as in BPF: dividing by zero gives 0.
#[inline(always)]
pub fn div(a: u64, b: u64) -> u64 {
    if b == 0 { 0 } else { a / b }
}

/// Remainder as in BPF: modulo zero gives 0 (the verifier-defined result is `a`; 0 is
/// what the DSL documents, so both halves of `(/ a 0)` and `(% a 0)` are 0).
#[inline(always)]
pub fn rem(a: u64, b: u64) -> u64 {
    if b == 0 { 0 } else { a % b }
}

/// `lock *(u64 *)(p + 0) += v`, BPF's atomic add (XADD): core's atomics have no
/// read-modify-write on the bpf target (it has no compare-and-swap).
///
/// # Safety
/// `p` must point to a live `u64` map value.
#[inline(always)]
pub unsafe fn atomic_add_u64(p: *mut u64, v: u64) {
    unsafe { core::arch::asm!("lock *(u64 *)({0} + 0) += {1}", in(reg) p, in(reg) v) }
}

/// `lock *(u32 *)(p + 0) += v`, the 32-bit XADD.
///
/// # Safety
/// `p` must point to a live `u32` map value.
#[inline(always)]
pub unsafe fn atomic_add_u32(p: *mut u32, v: u32) {
    unsafe { core::arch::asm!("lock *(u32 *)({0} + 0) += {1}", in(reg) p, in(reg) u64::from(v)) }
}

/// `bpf_csum_diff` of replacing the 32-bit word `from` by `to` (host order, summed in
/// network order) onto `seed`: the delta to fold into an IP or L4 checksum.
#[inline(always)]
pub fn csum_diff32(from: u64, to: u64, seed: u64) -> u64 {
    let mut a = [(from as u32).to_be()];
    let mut b = [(to as u32).to_be()];
    // SAFETY: two live 4-byte buffers; the helper only reads them.
    let r = unsafe {
        aya_ebpf::helpers::bpf_csum_diff(a.as_mut_ptr(), 4, b.as_mut_ptr(), 4, seed as u32)
    };
    r as u64
}

/// `bpf_get_stackid`: the id of the current stack in `map`, or a negative errno.
#[inline(always)]
pub fn stackid<C, M>(ctx: &C, map: &M, flags: u64) -> u64
where
    C: aya_ebpf::programs::tracing::StackIdContext,
    M: aya_ebpf::programs::tracing::StackTraceMap,
{
    match ctx.get_stackid(map, flags) {
        Ok(id) => id as u64,
        Err(e) => i64::from(e) as u64,
    }
}

/// `bpf_redirect_map`: XDP_REDIRECT, or the low bits of `flags` (a fallback verdict)
/// when the map has no target at `key`.
#[inline(always)]
pub fn redirect_map<M: RedirectMap>(map: &M, key: u64, flags: u64) -> u64 {
    u64::from(map.redirect_to(key as u32, flags))
}

/// The aya maps `bpf_redirect_map` takes (devmap, devmap-hash, cpumap).
pub trait RedirectMap {
    fn redirect_to(&self, key: u32, flags: u64) -> u32;
}

impl<const N: usize, const F: usize> RedirectMap for aya_ebpf::btf_maps::DevMap<N, F> {
    #[inline(always)]
    fn redirect_to(&self, key: u32, flags: u64) -> u32 {
        match self.redirect(key, flags) {
            Ok(v) | Err(v) => v,
        }
    }
}

impl<const N: usize, const F: usize> RedirectMap for aya_ebpf::btf_maps::DevMapHash<N, F> {
    #[inline(always)]
    fn redirect_to(&self, key: u32, flags: u64) -> u32 {
        match self.redirect(key, flags) {
            Ok(v) | Err(v) => v,
        }
    }
}

impl<const N: usize, const F: usize> RedirectMap for aya_ebpf::btf_maps::CpuMap<N, F> {
    #[inline(always)]
    fn redirect_to(&self, key: u32, flags: u64) -> u32 {
        match self.redirect(key, flags) {
            Ok(v) | Err(v) => v,
        }
    }
}

// --- Reads at a computed offset (bpf-fn loops, lower/bpf_fn/loops.py) -------------------

/// The largest offset a computed read may start at: the verifier learns a packet range
/// only while a pointer's variable part plus its fixed part stays within 0xffff
/// (MAX_PACKET_OFF), and no linear packet is longer, so a larger offset is out of bounds.
const MAX_VAR_OFF: u64 = 0xfff0;

/// `v`, as a value LLVM knows nothing about (`r = r` in `asm!`: one move LLVM cannot see through).
#[inline(always)]
fn opaque(mut v: usize) -> usize {
    // SAFETY: a register moved onto itself: no memory, no side effects.
    unsafe {
        core::arch::asm!("{0} = {0}", inout(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

impl Pkt {
    /// A read at an offset computed at run time (a loop-carried or data-dependent one),
    /// in the one shape the verifier bounds: the offset is clamped first (its range is
    /// then known), and `p + size > end` is compared on a pointer derived from `p` that
    /// LLVM cannot see through, so it can neither fold the check into `p >= end` (which
    /// gives the verifier no range) nor drop it after a `packet-len` guard.
    #[inline(always)]
    fn at_var<T: Copy>(&self, off: u64) -> Option<T> {
        if off > MAX_VAR_OFF {
            return None;
        }
        let p = opaque(self.start + off as usize);
        let q = opaque(p + core::mem::size_of::<T>());
        if q > self.end {
            return None;
        }
        // SAFETY: [p, q) was checked to lie inside the packet (see `at`).
        Some(unsafe { ptr::read(p as *const T) })
    }

    #[inline(always)]
    pub fn load_var_u8(&self, off: u64) -> Option<u64> {
        self.at_var::<u8>(off).map(u64::from)
    }

    #[inline(always)]
    pub fn load_var_u16(&self, off: u64) -> Option<u64> {
        self.at_var::<u16>(off).map(|v| u64::from(u16::from_be(v)))
    }

    #[inline(always)]
    pub fn load_var_u32(&self, off: u64) -> Option<u64> {
        self.at_var::<u32>(off).map(|v| u64::from(u32::from_be(v)))
    }
}

// --- Kernel task fields (`(task-field …)`, probe-read-kernel; lower/bpf_fn/task.py) ---

/// The build's value of a field-offset static: the runtime writes the running kernel's
/// offset over it in the copy it loads (runtime/kbtf.py); unpatched, the field reads 0.
pub const KOFF_UNSET: u32 = 0x7fff_ffff;

/// 4 bytes of kernel memory at `addr` (bpf_probe_read_kernel); 0 when the read faults.
#[inline(always)]
pub fn kread_u32(addr: u64) -> u64 {
    let mut v = core::mem::MaybeUninit::<u32>::uninit();
    // SAFETY: the helper writes all 4 bytes: the data, or zeros when the read faults.
    unsafe {
        aya_ebpf::helpers::generated::bpf_probe_read_kernel(
            v.as_mut_ptr().cast(),
            4,
            (addr as *const u8).cast(),
        );
        u64::from(v.assume_init())
    }
}

/// 8 bytes of kernel memory at `addr` (bpf_probe_read_kernel); 0 when the read faults.
#[inline(always)]
pub fn kread_u64(addr: u64) -> u64 {
    let mut v = core::mem::MaybeUninit::<u64>::uninit();
    // SAFETY: the helper writes all 8 bytes: the data, or zeros when the read faults.
    unsafe {
        aya_ebpf::helpers::generated::bpf_probe_read_kernel(
            v.as_mut_ptr().cast(),
            8,
            (addr as *const u8).cast(),
        );
        v.assume_init()
    }
}

/// The offset in a field-offset static as loaded (a volatile read, so the build's
/// value is not folded in), or None while it is unset.
#[inline(always)]
fn koff(slot: &'static u32) -> Option<u64> {
    // SAFETY: a reference to a static is valid and aligned for its whole life.
    let off = unsafe { core::ptr::read_volatile(slot) };
    if off == KOFF_UNSET {
        None
    } else {
        Some(u64::from(off))
    }
}

/// The u32 field at offset `*slot` of the kernel struct at `base` (0 while unset).
#[inline(always)]
pub fn kfield_u32(base: u64, slot: &'static u32) -> u64 {
    koff(slot).map_or(0, |off| kread_u32(base.wrapping_add(off)))
}

/// The u64 (or pointer) field at offset `*slot` of the kernel struct at `base`.
#[inline(always)]
pub fn kfield_u64(base: u64, slot: &'static u32) -> u64 {
    koff(slot).map_or(0, |off| kread_u64(base.wrapping_add(off)))
}

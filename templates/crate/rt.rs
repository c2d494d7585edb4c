//! Bounds-checked packet reads for lowered bpf-fn bodies.
//!
//! Every read compares `start + offset + size` with `end` before it dereferences, in
//! the shape the verifier proves safe. `None` means the packet is shorter than a
//! header it claims to have: the program then runs its `(on-short …)` body, or returns
//! its kind's default verdict. Fields of headers the packet does not have read as 0.
//! Header accessors skip up to `VLAN_MAX` VLAN tags and `IPV6_EXT_MAX` IPv6 extension
//! headers, in walks the verifier bounds.

#![allow(dead_code, unused_macros)]

use core::ptr;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const VLAN_HLEN: usize = 4;
/// VLAN tags skipped before L3 (802.1Q, 802.1ad; QinQ is two).
pub const VLAN_MAX: u64 = 2;
/// IPv6 extension headers skipped before L4.
pub const IPV6_EXT_MAX: usize = 6;
/// The largest L4 offset: Ethernet, the tags, IPv6 and `IPV6_EXT_MAX` extension headers
/// of at most 2048 bytes each (see `Pkt::settle`).
const L4_OFF_MAX: u64 = 0x3fff;
const _: () = assert!(14 + 4 * VLAN_MAX + 40 + 2048 * IPV6_EXT_MAX as u64 <= L4_OFF_MAX);
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;

/// The largest offset `load_var_*` reads at: the verifier takes a range from a packet
/// pointer only while its variable part plus the bytes read stays within 0xffff.
const VAR_OFF_MAX: u64 = 0xffff - 8;

/// The body of `Pkt::load_var_*` (see there); gives the loaded value zero-extended.
macro_rules! var_load {
    ($pkt:expr, $off:expr, $ty:literal, $n:literal) => {{
        // u64::MAX: not read (a 1-4 byte load never gives it), one register for both.
        let mut v: u64 = u64::MAX;
        // SAFETY: the load runs only after `p + n <= end` was checked on `p` itself.
        unsafe {
            core::arch::asm!(
                "if {off} > {max} goto 1f",
                "{p} = {start}",
                "{p} += {off}",
                "{t} = {p}",
                concat!("{t} += ", $n),
                "if {t} > {end} goto 1f",
                concat!("{v} = *(", $ty, " *)({p} + 0)"),
                "1:",
                off = in(reg) $off,
                start = in(reg) $pkt.start as u64,
                end = in(reg) $pkt.end as u64,
                max = const VAR_OFF_MAX,
                p = out(reg) _,
                t = out(reg) _,
                v = inout(reg) v,
                options(pure, readonly, nostack),
            );
        }
        if v == u64::MAX { None } else { Some(v) }
    }};
}

/// `*(ty *)(base + at)` once `base + need <= end` was checked on `base` itself, in one
/// asm block; `None` past the end. For a header found at a run-time offset (L4 after
/// the IPv4 options): LLVM merged two such checks and recomputed `base` for the second
/// read, a new pointer the verifier knew no range for.
macro_rules! checked_load {
    ($base:expr, $end:expr, $ty:literal, $need:literal, $at:literal) => {{
        // u64::MAX: not read (a 1-4 byte load never gives it), one register for both.
        let mut v: u64 = u64::MAX;
        // SAFETY: the load runs only after `base + need <= end`, and `at + size <= need`.
        unsafe {
            core::arch::asm!(
                "{t} = {base}",
                concat!("{t} += ", $need),
                "if {t} > {end} goto 1f",
                concat!("{v} = *(", $ty, " *)({base} + ", $at, ")"),
                "1:",
                base = in(reg) $base as u64,
                end = in(reg) $end as u64,
                t = out(reg) _,
                v = inout(reg) v,
                options(pure, readonly, nostack),
            );
        }
        if v == u64::MAX { None } else { Some(v) }
    }};
}

/// A u32 field of a context struct, loaded at its constant offset by one instruction,
/// the only shape the verifier takes for a context read. Given
/// `if c { skb.len } else { skb.ingress_ifindex }`, LLVM would select the address and
/// load once (`dereference of modified ctx ptr R6 off=36 disallowed`).
macro_rules! ctx_field {
    ($ptr:expr, $ty:ty, $field:ident) => {{
        let v: u64;
        // SAFETY: the kernel's context pointer, read at a field's offset inside it.
        unsafe {
            core::arch::asm!(
                "{v} = *(u32 *)({c} + {off})",
                c = in(reg) $ptr,
                off = const core::mem::offset_of!($ty, $field),
                v = out(reg) v,
                options(readonly, nostack, pure),
            );
        }
        v
    }};
}
#[allow(unused_imports)] // bodies that read no context field
pub(crate) use ctx_field;

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

    /// `end - start`, computed where LLVM cannot see it: from a length it knows, LLVM
    /// would drop a later read's own bounds check (`start + 18 > end` follows from
    /// `len >= 34` and an earlier check), and the verifier, which learns packet ranges
    /// only from pointer comparisons, would then refuse the read.
    #[inline(always)]
    pub fn len(&self) -> u64 {
        let n: u64;
        // SAFETY: one register subtraction; no memory is touched.
        unsafe {
            core::arch::asm!("{0} -= {1}", inout(reg) self.end as u64 => n,
                             in(reg) self.start as u64, options(pure, nomem, nostack));
        }
        n
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

    /// Where L3 starts: `(address, EtherType after the tags, tags skipped, outer VID)`.
    /// Up to `VLAN_MAX` 802.1Q/802.1ad tags are skipped (xdp-tutorial's VLAN_MAX_DEPTH);
    /// a packet with more keeps a tag's TPID as its EtherType, so it reads as not IP.
    /// Packets without an Ethernet header start at L3 with EtherType 0.
    #[inline(always)]
    pub fn l3(&self) -> Option<(usize, u16, u64, u64)> {
        if !self.eth {
            return Some((self.start, 0, 0, 0));
        }
        let mut proto = u16::from_be(self.at::<u16>(ETH_HLEN - 2)?);
        let mut off = ETH_HLEN;
        let mut tags = 0;
        let mut vid = 0;
        while tags < VLAN_MAX && (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
            // TCI and the next EtherType under one bounds check, as a C `vlan_hdr` read.
            let tag = u32::from_be(self.at::<u32>(off)?);
            if tags == 0 {
                vid = u64::from(tag >> 16) & 0x0fff;
            }
            proto = tag as u16;
            off += VLAN_HLEN;
            tags += 1;
        }
        Some((self.start + off, proto, tags, vid))
    }

    /// The IP header at `l3`: `Ip::V4` with 20 bytes checked, `Ip::V6` with 40, `Ip::No`
    /// when the packet is not IP, `None` when it claims IP but is cut short (with
    /// Ethernet; a packet starting at L3 that is too short reads as not IP).
    #[inline(always)]
    fn ip_at(&self, l3: usize, proto: u16) -> Option<Ip> {
        let (need, version) = if !self.eth {
            // 20 bytes, not 1: LLVM folds `start + 1 > end` into `start >= end`, which
            // gives the verifier no packet range (see `at`).
            if l3 + 20 > self.end {
                return Some(Ip::No);
            }
            // SAFETY: 20 bytes were bounds-checked above.
            match unsafe { *(l3 as *const u8) } >> 4 {
                4 => (20, 4),
                6 => (40, 6),
                _ => return Some(Ip::No),
            }
        } else if proto == ETH_P_IP {
            (20, 4)
        } else if proto == ETH_P_IPV6 {
            (40, 6)
        } else {
            return Some(Ip::No);
        };
        if l3 + need > self.end {
            return if self.eth { None } else { Some(Ip::No) };
        }
        // SAFETY: the fixed header was bounds-checked above.
        let vihl = unsafe { *(l3 as *const u8) };
        Some(match (vihl >> 4, version) {
            (4, 4) => Ip::V4(l3),
            (6, 6) => Ip::V6(l3),
            _ => Ip::No,
        })
    }

    /// The IP header after the VLAN tags (see `ip_at`).
    #[inline(always)]
    fn ip(&self) -> Option<Ip> {
        let (l3, proto, _, _) = self.l3()?;
        self.ip_at(l3, proto)
    }

    /// Address of a whole (20-byte) IPv4 header, `Some(None)` when the packet is not
    /// IPv4, `None` when it is cut short. One bounds check covers every fixed field,
    /// as a C author would write it.
    #[inline(always)]
    pub fn ipv4(&self) -> Option<Option<usize>> {
        Some(match self.ip()? {
            Ip::V4(h) => Some(h),
            _ => None,
        })
    }

    /// Address of a whole (40-byte) IPv6 header, like `ipv4`.
    #[inline(always)]
    pub fn ipv6(&self) -> Option<Option<usize>> {
        Some(match self.ip()? {
            Ip::V6(h) => Some(h),
            _ => None,
        })
    }

    /// A field of the (already bounds-checked) header at `h`.
    #[inline(always)]
    fn field<T: Copy>(h: usize, off: usize) -> T {
        // SAFETY: callers pass offsets inside the bytes `ip_at`/`l4_at` checked (plain
        // load: see `at`).
        unsafe { ptr::read((h + off) as *const T) }
    }

    /// `(address of the L4 header, protocol, whether the header is there)` after the
    /// IPv4 header (its IHL honoured; protocol read even when IHL < 5) or after up to
    /// `IPV6_EXT_MAX` IPv6 extension headers. Every value is defined on every path: an
    /// `Option` payload left undefined on the not-IP path lets LLVM reuse whatever
    /// register (the context pointer) for it, which the verifier refuses.
    #[inline(always)]
    fn l4_at(&self, ip: Ip) -> Option<(usize, u8, bool)> {
        match ip {
            Ip::V4(h) => {
                let ihl = usize::from(Self::field::<u8>(h, 0) & 0x0f) * 4;
                let proto = Self::field::<u8>(h, 9);
                if ihl < 20 {
                    return Some((self.start, proto, false));
                }
                Some((h + ihl, proto, true))
            }
            Ip::V6(h) => {
                let (l4, nh) = self.ipv6_skip_ext(h)?;
                Some((self.settle(l4), nh, true))
            }
            Ip::No => Some((self.start, 0, false)),
        }
    }

    /// The L4 header's address and protocol (see `l4_at`), `Some(None)` when there is
    /// no L4 header, `None` when an IPv6 extension header is cut short. The packet-write
    /// methods find the header to fix up through it.
    #[inline(always)]
    pub fn l4(&self) -> Option<Option<(usize, u8)>> {
        let (l4, proto, there) = self.l4_at(self.ip()?)?;
        Some(if there { Some((l4, proto)) } else { None })
    }

    /// `p` (a packet address at most `L4_OFF_MAX` past `start`) unchanged at run time,
    /// but known to the verifier only as `start + [0, L4_OFF_MAX]`: a difference of two
    /// packet pointers is a scalar it knows nothing of (root loads), masked to a range.
    /// The IPv6 extension-header walk ends with a pointer of a different range for
    /// every chain of header kinds and lengths; carried into the body, each made the
    /// verifier walk the rest of the body again (1M instructions, "program is too
    /// large", found by tests/test_verifier_property.py). Settled, they are one state.
    /// Readers at `p` bounds-check it again (`Hdr::l4_field`, the setters).
    #[inline(always)]
    fn settle(&self, p: usize) -> usize {
        let off: u64;
        // SAFETY: register arithmetic only; `p - start <= L4_OFF_MAX`.
        unsafe {
            core::arch::asm!("{o} -= {s}", "{o} &= {m}", o = inout(reg) p as u64 => off,
                             s = in(reg) self.start as u64, m = const L4_OFF_MAX,
                             options(pure, nomem, nostack));
        }
        self.start + off as usize
    }

    /// Walks at most `IPV6_EXT_MAX` extension headers (hop-by-hop, routing, fragment,
    /// destination options: 8-byte units; AH: 4-byte units). A non-first fragment stops
    /// at its fragment header (its L4 header is elsewhere): protocol 44, ports 0. A
    /// chain longer than the limit gives the extension header where it stopped.
    #[inline(always)]
    fn ipv6_skip_ext(&self, h: usize) -> Option<(usize, u8)> {
        let mut nh = Self::field::<u8>(h, 6);
        let mut p = h + 40;
        // The bound is set in asm, a value LLVM cannot see through, so the trip count is
        // unknown to it: the walk stays one loop (the verifier, which sees the constant,
        // bounds it by `i`), not six unrolled copies. It is still a finite loop to LLVM
        // (`i` counts up to a fixed bound), so LLVM may drop the walk from paths that use
        // none of its results: an IPv4-only body carries no IPv6 walk (bench_codegen's
        // echo_pingpong 151 -> 105 instructions).
        let max: usize;
        // SAFETY: loads a constant into a register; touches no memory.
        unsafe {
            core::arch::asm!("{0} = {1}", out(reg) max, const IPV6_EXT_MAX,
                             options(pure, nomem, nostack));
        }
        let mut i = 0;
        while i < max {
            if !matches!(nh, 0 | 43 | 44 | 51 | 60) {
                break;
            }
            if p + 8 > self.end {
                return None;
            }
            let len = usize::from(Self::field::<u8>(p, 1));
            let size = match nh {
                44 if u16::from_be(Self::field(p, 2)) & 0xfff8 != 0 => return Some((p, nh)),
                44 => 8,
                51 => (len + 2) * 4,
                _ => (len + 1) * 8,
            };
            nh = Self::field::<u8>(p, 0);
            p += size;
            i += 1;
        }
        Some((p, nh))
    }

    /// Every header offset, parsed once at the top of a body that reads headers, so
    /// each accessor is a field read (one walk per program, not one per accessor).
    /// A walk cut short is recorded as the level reached, and an accessor that needs a
    /// header past it gives `None` where it is read, as a direct read would. `DEPTH`
    /// says how far the body's accessors read (1: the VLAN tags, 2: the IP header, 3:
    /// the L4 header), so a body that reads only tags carries no IPv6 walk.
    #[inline(always)]
    pub fn parse<const DEPTH: u8>(&self) -> Hdr {
        let mut h = Hdr {
            start: self.start,
            end: self.end,
            level: CUT_L2,
            proto: 0,
            tags: 0,
            vid: 0,
            ipv: 0,
            iph: 0,
            l4: self.start,
            l4proto: 0,
            l4there: false,
        };
        let Some((l3, proto, tags, vid)) = self.l3() else {
            return h;
        };
        (h.proto, h.tags, h.vid, h.level) = (proto, tags, vid, CUT_L3);
        if DEPTH < 2 {
            h.level = WHOLE;
            return h;
        }
        let Some(ip) = self.ip_at(l3, proto) else {
            return h;
        };
        (h.ipv, h.iph, h.level) = (ip.version(), ip.addr(), CUT_L4);
        if DEPTH < 3 {
            h.level = WHOLE;
            return h;
        }
        let Some((l4, l4proto, there)) = self.l4_at(ip) else {
            return h;
        };
        (h.l4, h.l4proto, h.l4there, h.level) = (l4, l4proto, there, WHOLE);
        h
    }
}

/// What `Pkt::ip_at` found at L3.
#[derive(Clone, Copy)]
pub enum Ip {
    V4(usize),
    V6(usize),
    No,
}

impl Ip {
    #[inline(always)]
    fn version(self) -> u8 {
        match self {
            Ip::V4(_) => 4,
            Ip::V6(_) => 6,
            Ip::No => 0,
        }
    }

    /// The header's address, 0 for `No` (defined: see `Hdr::ip`).
    #[inline(always)]
    fn addr(self) -> usize {
        match self {
            Ip::V4(h) | Ip::V6(h) => h,
            Ip::No => 0,
        }
    }
}

// How far `Pkt::parse` got: cut in the VLAN tags, in the IP header, in the IPv6
// extension headers, or whole.
const CUT_L2: u8 = 0;
const CUT_L3: u8 = 1;
const CUT_L4: u8 = 2;
const WHOLE: u8 = 3;

/// A packet's header offsets (`Pkt::parse`): what the header accessors read.
pub struct Hdr {
    start: usize,
    end: usize,
    level: u8,
    proto: u16,
    tags: u64,
    vid: u64,
    /// The IP version found (4, 6, 0) and its header's address: plain values, defined
    /// on every path (see `ip`).
    ipv: u8,
    iph: usize,
    l4: usize,
    l4proto: u8,
    l4there: bool,
}

impl Hdr {
    /// The IP header found. `Hdr` keeps it as two plain values, not an `Ip`: `No` has
    /// no payload, and LLVM spilled the undefined payload register of a packet without
    /// IP across the body (`R0 !read_ok`, found by tests/test_verifier_property.py).
    #[inline(always)]
    fn ip(&self) -> Ip {
        match self.ipv {
            4 => Ip::V4(self.iph),
            6 => Ip::V6(self.iph),
            _ => Ip::No,
        }
    }

    /// `None` (the packet is short) when parsing stopped before `level`.
    #[inline(always)]
    fn need(&self, level: u8) -> Option<()> {
        if self.level > level { Some(()) } else { None }
    }

    /// EtherType (host order) after up to `VLAN_MAX` VLAN tags; 0 without Ethernet.
    #[inline(always)]
    pub fn eth_proto(&self) -> Option<u64> {
        self.need(CUT_L2)?;
        Some(u64::from(self.proto))
    }

    /// How many VLAN tags (0..=VLAN_MAX) precede the EtherType `eth_proto` gives.
    #[inline(always)]
    pub fn vlan_count(&self) -> Option<u64> {
        self.need(CUT_L2)?;
        Some(self.tags)
    }

    /// The outer tag's VLAN id (12 bits); 0 for an untagged packet.
    #[inline(always)]
    pub fn vlan_id(&self) -> Option<u64> {
        self.need(CUT_L2)?;
        Some(self.vid)
    }

    /// 4 or 6 when the packet has that IP header (EtherType and version agree), else 0.
    #[inline(always)]
    pub fn ip_version(&self) -> Option<u64> {
        self.need(CUT_L3)?;
        Some(match self.ip() {
            Ip::V4(_) => 4,
            Ip::V6(_) => 6,
            Ip::No => 0,
        })
    }

    /// A field of the IPv4 header (`v4` offset) or the IPv6 one (`v6`), 0 for other
    /// packets or when the field has no offset (`usize::MAX`) in that version.
    #[inline(always)]
    fn ip_field<T: Copy + Into<u64>>(&self, v4: usize, v6: usize, be: fn(T) -> T) -> Option<u64> {
        self.need(CUT_L3)?;
        Some(match self.ip() {
            Ip::V4(h) if v4 != usize::MAX => be(Pkt::field::<T>(h, v4)).into(),
            Ip::V6(h) if v6 != usize::MAX => be(Pkt::field::<T>(h, v6)).into(),
            _ => 0,
        })
    }

    /// The L4 protocol: IPv4's protocol, or IPv6's after its extension headers.
    #[inline(always)]
    pub fn ip_proto(&self) -> Option<u64> {
        self.need(CUT_L4)?;
        Some(u64::from(self.l4proto))
    }

    /// IPv4 TTL or IPv6 hop limit.
    #[inline(always)]
    pub fn ip_ttl(&self) -> Option<u64> {
        self.ip_field::<u8>(8, 7, |v| v)
    }

    /// IPv4 total length, or IPv6's payload length plus its 40-byte header.
    #[inline(always)]
    pub fn ip_len(&self) -> Option<u64> {
        let len = self.ip_field::<u16>(2, 4, u16::from_be)?;
        Some(if matches!(self.ip(), Ip::V6(_)) {
            len + 40
        } else {
            len
        })
    }

    #[inline(always)]
    pub fn ipv4_src(&self) -> Option<u64> {
        self.ip_field::<u32>(12, usize::MAX, u32::from_be)
    }

    #[inline(always)]
    pub fn ipv4_dst(&self) -> Option<u64> {
        self.ip_field::<u32>(16, usize::MAX, u32::from_be)
    }

    /// An IPv6 address at `off` in the header, network order (all 0 when not IPv6).
    #[inline(always)]
    fn ipv6_addr(&self, off: usize) -> Option<[u8; 16]> {
        self.need(CUT_L3)?;
        Some(match self.ip() {
            // SAFETY: [u64; 2] and [u8; 16] have the same size; two 8-byte loads, not 16.
            Ip::V6(h) => unsafe {
                core::mem::transmute::<[u64; 2], [u8; 16]>([
                    Pkt::field(h, off),
                    Pkt::field(h, off + 8),
                ])
            },
            _ => [0; 16],
        })
    }

    #[inline(always)]
    pub fn ipv6_src(&self) -> Option<[u8; 16]> {
        self.ipv6_addr(8)
    }

    #[inline(always)]
    pub fn ipv6_dst(&self) -> Option<[u8; 16]> {
        self.ipv6_addr(24)
    }

    /// Half an IPv6 address as a host-order number (`hi`: bytes 0..8), 0 when not IPv6.
    #[inline(always)]
    pub fn ipv6_src_hi(&self) -> Option<u64> {
        self.ip_field::<u64>(usize::MAX, 8, u64::from_be)
    }

    #[inline(always)]
    pub fn ipv6_src_lo(&self) -> Option<u64> {
        self.ip_field::<u64>(usize::MAX, 16, u64::from_be)
    }

    #[inline(always)]
    pub fn ipv6_dst_hi(&self) -> Option<u64> {
        self.ip_field::<u64>(usize::MAX, 24, u64::from_be)
    }

    #[inline(always)]
    pub fn ipv6_dst_lo(&self) -> Option<u64> {
        self.ip_field::<u64>(usize::MAX, 32, u64::from_be)
    }

    /// The fixed IPv6 header's Next Header (before any extension header is skipped).
    #[inline(always)]
    pub fn ipv6_next_header(&self) -> Option<u64> {
        self.ip_field::<u8>(usize::MAX, 6, |v| v)
    }

    #[inline(always)]
    pub fn ipv6_hop_limit(&self) -> Option<u64> {
        self.ip_field::<u8>(usize::MAX, 7, |v| v)
    }

    /// A field of the L4 header when its protocol is one of `protos`: `size` bytes
    /// must be there (else `None`); 0 for other packets.
    #[inline(always)]
    fn l4_field<T: Copy + Into<u64>>(
        &self,
        protos: [u8; 2],
        size: usize,
        off: usize,
        be: fn(T) -> T,
    ) -> Option<u64> {
        self.need(CUT_L4)?;
        if !self.l4there || (self.l4proto != protos[0] && self.l4proto != protos[1]) {
            return Some(0);
        }
        if self.l4 + size > self.end {
            return None;
        }
        Some(be(Pkt::field::<T>(self.l4, off)).into())
    }

    #[inline(always)]
    pub fn l4_sport(&self) -> Option<u64> {
        self.l4_field::<u16>([IPPROTO_TCP, IPPROTO_UDP], 4, 0, u16::from_be)
    }

    #[inline(always)]
    pub fn l4_dport(&self) -> Option<u64> {
        self.l4_field::<u16>([IPPROTO_TCP, IPPROTO_UDP], 4, 2, u16::from_be)
    }

    /// TCP flags byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32); 0 if not TCP.
    #[inline(always)]
    pub fn tcp_flags(&self) -> Option<u64> {
        self.l4_field::<u8>([IPPROTO_TCP, IPPROTO_TCP], 14, 13, |v| v)
    }

    /// ICMP (over IPv4) or ICMPv6 (over IPv6) fields: type 0, code 1, echo id 4 and
    /// echo sequence 6 (16 bits each); 0 for other packets.
    #[inline(always)]
    pub fn icmp_type(&self) -> Option<u64> {
        self.l4_field::<u8>([IPPROTO_ICMP, IPPROTO_ICMPV6], 8, 0, |v| v)
    }

    #[inline(always)]
    pub fn icmp_code(&self) -> Option<u64> {
        self.l4_field::<u8>([IPPROTO_ICMP, IPPROTO_ICMPV6], 8, 1, |v| v)
    }

    #[inline(always)]
    pub fn icmp_id(&self) -> Option<u64> {
        self.l4_field::<u16>([IPPROTO_ICMP, IPPROTO_ICMPV6], 8, 4, u16::from_be)
    }

    #[inline(always)]
    pub fn icmp_seq(&self) -> Option<u64> {
        self.l4_field::<u16>([IPPROTO_ICMP, IPPROTO_ICMPV6], 8, 6, u16::from_be)
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

/// `(map-has m k)`: whether the lookup found the key, as a 0/1 LLVM cannot see through.
/// Given two plain `is_some()` tests, LLVM ORs the two map pointers and tests the result
/// once (`R8 pointer |= pointer prohibited`); here the null test happens inside asm.
#[inline(always)]
pub fn has<T>(p: Option<*const T>) -> bool {
    let ptr = match p {
        Some(p) => p as u64,
        None => 0,
    };
    let b: u64;
    // SAFETY: compares a register with 0; no memory is touched.
    unsafe {
        core::arch::asm!("{b} = 0", "if {p} == 0 goto 1f", "{b} = 1", "1:", p = in(reg) ptr,
                         b = out(reg) b, options(pure, nomem, nostack));
    }
    b != 0
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

/// The current task's comm (`bpf_get_current_comm`), 16 bytes, NUL-padded.
///
/// The kernel helper zeroes the buffer itself when there is no task, so its result is
/// used on one path. Branching on the helper's return instead (aya's
/// `bpf_get_current_comm().unwrap_or([0; 16])`) leaves the verifier two stack states
/// per call, which no later state prunes: a loop of four emits after the packet parse
/// made 2^4 per parse state, past the 1M-instruction limit
/// (tests/test_verifier_property.py, tests/fixtures/verifier_shapes.tlisp).
#[inline(always)]
pub fn current_comm() -> [u8; 16] {
    let mut comm = [0u8; 16];
    // SAFETY: the helper writes at most 16 bytes into the 16-byte buffer.
    unsafe {
        aya_ebpf::helpers::generated::bpf_get_current_comm(comm.as_mut_ptr().cast(), 16);
    }
    comm
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

impl Pkt {
    /// A read at an offset computed at run time (a loop-carried or data-dependent one,
    /// a header length, a map value), checked and read in one asm block (`var_load!`)
    /// so the shape reaching the verifier is fixed: the offset bounded (a packet
    /// pointer's variable part must stay under 64 KiB), `p + size > end` compared as
    /// written (LLVM turns `p + 1 > end` into `p >= end`, from which the verifier learns
    /// no range, and drops the check after a `packet-len` guard), and the load from the
    /// very register that was checked (a recomputed `start + off` would be a new pointer
    /// with no range). `None` past the end.
    #[inline(always)]
    pub fn load_var_u8(&self, off: u64) -> Option<u64> {
        var_load!(self, off, "u8", 1)
    }

    #[inline(always)]
    pub fn load_var_u16(&self, off: u64) -> Option<u64> {
        var_load!(self, off, "u16", 2).map(|v| u64::from(u16::from_be(v as u16)))
    }

    #[inline(always)]
    pub fn load_var_u32(&self, off: u64) -> Option<u64> {
        var_load!(self, off, "u32", 4).map(|v| u64::from(u32::from_be(v as u32)))
    }
}

// --- Packet writes: stores, field setters, incremental checksums -------------------------
//
// Stores mirror the reads: one bounds check against `end`, then a plain store (xdp and
// sched_cls have writable direct packet access; the kernel refuses writes elsewhere).
// Setters change one header field and fix every checksum that covers it with RFC 1624's
// incremental update HC' = ~(~HC + ~m + m'), so no loop walks the packet. The
// ones'-complement sum does not depend on byte order, so words are summed as they lie in
// memory and the result is stored back the same way. A setter on a packet without the
// header does nothing; a header cut short returns the default verdict before any write.
// Setters take the headers from the body's one parse (`Pkt::parse`, at its top), at the
// first setter (`PktW`): a walk of their own would double the paths the verifier
// explores, and after a write LLVM must assume the header bytes changed and would parse
// again for every setter.

// (own names: the read side may declare IPPROTO_ICMP* too)
const W_PROTO_ICMP: u8 = 1;
const W_PROTO_ICMPV6: u8 = 58;
/// The largest computed offset a store may start at (no linear packet is longer).
const W_MAX_VAR_OFF: u64 = 0xfff0;

/// Fold a sum of at most 65537 16-bit words to 16 bits with end-around carries: the
/// first fold leaves at most 0x1_fffe, the second at most 0xffff.
#[inline(always)]
pub fn csum_fold(sum: u64) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// RFC 1624 eqn. 3: checksum `hc` after one 16-bit word changes from `old` to `new`.
#[inline(always)]
pub fn csum_replace16(hc: u16, old: u16, new: u16) -> u16 {
    !csum_fold(u64::from(!hc) + u64::from(!old) + u64::from(new))
}

/// RFC 1624 eqn. 3 for a 32-bit field (two 16-bit words), e.g. an IPv4 address.
#[inline(always)]
pub fn csum_replace32(hc: u16, old: u32, new: u32) -> u16 {
    let (o, n) = (!old, new);
    !csum_fold(
        u64::from(!hc)
            + u64::from(o & 0xffff)
            + u64::from(o >> 16)
            + u64::from(n & 0xffff)
            + u64::from(n >> 16),
    )
}

/// `p` as a value LLVM cannot recompute: a bounds check and the accesses it guards then
/// use one register. Without it LLVM may rebuild `start + ihl + 16` from other registers
/// for the access, and the verifier, which learns ranges per register lineage (id),
/// refuses it (`invalid access to packet ... r=0`). One `rX = rX` (an empty asm would
/// leave two BTF line records at one instruction, which the kernel refuses).
#[inline(always)]
fn pin_reg(mut p: usize) -> usize {
    // SAFETY: a register move onto itself; touches no memory.
    unsafe { core::arch::asm!("{0} = {0}", inout(reg) p, options(pure, nomem, nostack)) };
    p
}

/// Where an L4 header and its checksum live, `l4` bounds-checked up to the end of the
/// checksum. TCP's checksum is always set; UDP's may be 0 (none, over IPv4) and is
/// never computed as 0 (sent as 0xffff): `zero` is 0xffff for UDP, 0 for TCP, so both
/// rules are one test each without a branch on the protocol.
#[derive(Clone, Copy)]
struct L4Sum {
    l4: usize,
    at: usize,
    zero: u16,
}

/// The headers setters write, found once. Inner `None`: the packet has no such header;
/// outer `None` (l4, icmp): it claims one that is cut short.
#[derive(Clone, Copy)]
struct Hdrs {
    /// The IPv4 header, 0 when there is none.
    ip: usize,
    /// The TCP/UDP checksum to fix (`l4.l4` 0: none); `l4_cut`: the header is cut short.
    l4: L4Sum,
    l4_cut: bool,
    /// The ICMP header, 0 when there is none; `icmp_cut`: it is cut short.
    icmp: usize,
    icmp_cut: bool,
}

/// Every field of `Hdrs` is a plain value, defined on every path: `PktW` keeps it
/// across the body (across loops: spilled to the stack), and an `Option`'s `None` has
/// no payload, so LLVM left such registers unset on ways the verifier still takes
/// (`R2 !read_ok`, `R7 !read_ok`, found by tests/test_verifier_property.py).
impl Hdrs {
    const NONE: Hdrs = Hdrs {
        ip: 0,
        l4: L4Sum {
            l4: 0,
            at: 0,
            zero: 0,
        },
        l4_cut: false,
        icmp: 0,
        icmp_cut: false,
    };

    #[inline(always)]
    fn ip4(&self) -> Option<usize> {
        if self.ip != 0 { Some(self.ip) } else { None }
    }

    #[inline(always)]
    fn l4s(&self) -> Option<Option<L4Sum>> {
        if self.l4_cut {
            None
        } else if self.l4.l4 != 0 {
            Some(Some(self.l4))
        } else {
            Some(None)
        }
    }

    #[inline(always)]
    fn icmp4(&self) -> Option<Option<usize>> {
        if self.icmp_cut {
            None
        } else if self.icmp != 0 {
            Some(Some(self.icmp))
        } else {
            Some(None)
        }
    }
}

/// The body of `Pkt::store_*`: bound the offset, check `p + n <= end` and store through
/// `p`, all in one asm block, like `var_load!` for reads. In Rust, LLVM was free to
/// rebuild the pointer it stores through from other registers after the check (or to
/// merge two stores' checks and address the second from the first's pointer), and the
/// verifier, which knows packet ranges per register, refused the store. Gives 1 when
/// written, 0 past the end (or for an offset over `W_MAX_VAR_OFF`), nothing written.
macro_rules! var_store {
    ($pkt:expr, $off:expr, $v:expr, $ty:literal, $n:literal) => {{
        let mut ok: u64 = 0;
        // SAFETY: the store runs only after `p + n <= end` was checked on `p` itself, and
        // the program kind has writable direct packet access (checked when lowering).
        unsafe {
            core::arch::asm!(
                "if {off} > {max} goto 1f",
                "{p} = {start}",
                "{p} += {off}",
                "{t} = {p}",
                concat!("{t} += ", $n),
                "if {t} > {end} goto 1f",
                concat!("*(", $ty, " *)({p} + 0) = {v}"),
                "{ok} = 1",
                "1:",
                off = in(reg) $off,
                start = in(reg) $pkt.start as u64,
                end = in(reg) $pkt.end as u64,
                v = in(reg) $v,
                max = const W_MAX_VAR_OFF,
                p = out(reg) _,
                t = out(reg) _,
                ok = inout(reg) ok,
                options(nostack),
            );
        }
        if ok == 0 { None } else { Some(()) }
    }};
}

impl Pkt {
    /// `(store-u8|16|32 ctx off v)`: `v` in network byte order at `off`, a literal or a
    /// computed offset alike (`var_store!`); `None` past the end, nothing written.
    #[inline(always)]
    pub fn store_u8(&self, off: u64, v: u64) -> Option<()> {
        var_store!(self, off, v as u8 as u64, "u8", 1)
    }

    #[inline(always)]
    pub fn store_u16(&self, off: u64, v: u64) -> Option<()> {
        var_store!(self, off, u64::from((v as u16).to_be()), "u16", 2)
    }

    #[inline(always)]
    pub fn store_u32(&self, off: u64, v: u64) -> Option<()> {
        var_store!(self, off, u64::from((v as u32).to_be()), "u32", 4)
    }

    /// The TCP/UDP checksum, bounds-checked; `Some(None)` when the packet has none (not
    /// TCP/UDP, or a non-first IPv4 fragment whose L4 header is elsewhere).
    #[inline(always)]
    fn w_l4_sum(&self, l4: Option<(usize, u8)>) -> Option<Option<L4Sum>> {
        let (l4, proto) = match l4 {
            Some(x) => x,
            None => return Some(None),
        };
        let (off, zero) = match proto {
            IPPROTO_TCP => (16, 0),
            IPPROTO_UDP => (6, 0xffff),
            _ => return Some(None),
        };
        let l4 = pin_reg(l4);
        if l4 + off + 2 > self.end {
            return None;
        }
        let at = l4 + off;
        Some(Some(L4Sum { l4, at, zero }))
    }

    /// The ICMP/ICMPv6 header (type, code, checksum), bounds-checked.
    #[inline(always)]
    fn w_icmp(&self, l4: Option<(usize, u8)>) -> Option<Option<usize>> {
        match l4 {
            Some((l4, p)) if p == W_PROTO_ICMP || p == W_PROTO_ICMPV6 => {
                let l4 = pin_reg(l4);
                if l4 + 4 > self.end {
                    return None;
                }
                Some(Some(l4))
            }
            _ => Some(None),
        }
    }

    /// The headers setters write, from the body's own parse (`Pkt::parse::<3>`): a
    /// second walk of the VLAN tags and IPv6 extension headers for the setters would
    /// multiply the paths the verifier explores with the first walk's (found by
    /// tests/test_verifier_property.py: `(set-ip-ttl ctx 255) (return (icmp-id ctx))` in
    /// tc was "BPF program is too large"). `None`: a header cut short.
    #[inline(always)]
    fn w_hdrs(&self, hd: &Hdr) -> Option<Hdrs> {
        hd.need(CUT_L4)?;
        let ip = match hd.ip() {
            Ip::V4(h) => Some(h),
            _ => None,
        };
        let first = ip.map_or(true, |h| u16::from_be(Self::field(h, 6)) & 0x1fff == 0);
        let l4 = if first && hd.l4there {
            Some((hd.l4, hd.l4proto))
        } else {
            None
        };
        let (l4s, l4_cut) = match self.w_l4_sum(l4) {
            Some(Some(s)) => (s, false),
            Some(None) => (Hdrs::NONE.l4, false),
            None => (Hdrs::NONE.l4, true),
        };
        let (icmp, icmp_cut) = match self.w_icmp(l4) {
            Some(Some(h)) => (h, false),
            Some(None) => (0, false),
            None => (0, true),
        };
        Some(Hdrs {
            ip: ip.unwrap_or(0),
            l4: l4s,
            l4_cut,
            icmp,
            icmp_cut,
        })
    }
}

/// The packet as setters write it: `Pkt`, the body's parse, and the headers setters
/// write, taken from that parse at the first setter and kept (`Hdrs::NONE` and a
/// `found` flag before that, not an `Option`'s `None`: see `Hdrs`).
pub struct PktW<'a> {
    pkt: &'a Pkt,
    hdr: &'a Hdr,
    hdrs: core::cell::Cell<Hdrs>,
    found: core::cell::Cell<bool>,
    /// tc: the skb whose `csum` an address setter keeps right (see `csum_update`); null
    /// in xdp, which has no checksum state.
    skb: *mut aya_ebpf::bindings::__sk_buff,
}

impl<'a> PktW<'a> {
    #[inline(always)]
    pub fn new(pkt: &'a Pkt, hdr: &'a Hdr) -> Self {
        PktW {
            pkt,
            hdr,
            hdrs: core::cell::Cell::new(Hdrs::NONE),
            found: core::cell::Cell::new(false),
            skb: ptr::null_mut(),
        }
    }

    /// tc: as `new`, keeping the skb for its checksum state.
    #[inline(always)]
    pub fn new_skb(pkt: &'a Pkt, hdr: &'a Hdr, skb: *mut aya_ebpf::bindings::__sk_buff) -> Self {
        PktW {
            skb,
            ..Self::new(pkt, hdr)
        }
    }

    /// Keep a CHECKSUM_COMPLETE skb's `csum` (the sum of the packet's bytes the device
    /// gave) right after the 16-bit word at `at` changed from `before` to its value now.
    /// A setter's field and the checksum covering it cancel out in that sum, except where
    /// the TCP/UDP checksum covers the IPv4 addresses through the pseudo-header: there
    /// the sum changes by the checksum field's change, added here. `bpf_csum_update` does
    /// nothing for other skbs, and keeps the packet pointers valid.
    #[inline(always)]
    fn csum_update(&self, at: usize, before: u16) {
        if self.skb.is_null() {
            return;
        }
        let after: u16 = Pkt::field(at, 0);
        let diff = u32::from(after) + u32::from(!before);
        // SAFETY: the skb is the program's context; the helper only adds to its csum.
        unsafe {
            aya_ebpf::helpers::generated::bpf_csum_update(self.skb, diff);
        }
    }
    #[inline(always)]
    fn hdrs(&self) -> Option<Hdrs> {
        if self.found.get() {
            return Some(self.hdrs.get());
        }
        let h = self.pkt.w_hdrs(self.hdr)?;
        self.hdrs.set(h);
        self.found.set(true);
        Some(h)
    }

    /// Write `v` at `at`, inside bytes `Pkt::w_hdrs` or a setter bounds-checked.
    #[inline(always)]
    fn poke<T: Copy>(at: usize, v: T) {
        // SAFETY: callers pass addresses inside checked header bytes.
        unsafe { ptr::write(at as *mut T, v) }
    }

    /// Fix the checksum at `at` for a 16-bit word going from `old` to `new` (raw words);
    /// `zero` as in `L4Sum` (0 for the IPv4 header and ICMP).
    #[inline(always)]
    fn fix16(at: usize, old: u16, new: u16, zero: u16) {
        let hc: u16 = Pkt::field(at, 0);
        if hc | !zero == 0 {
            return; // UDP over IPv4 without a checksum stays without one
        }
        let r = csum_replace16(hc, old, new);
        Self::poke(at, if r == 0 { zero } else { r });
    }

    #[inline(always)]
    fn fix32(at: usize, old: u32, new: u32, zero: u16) {
        let hc: u16 = Pkt::field(at, 0);
        if hc | !zero == 0 {
            return;
        }
        let r = csum_replace32(hc, old, new);
        Self::poke(at, if r == 0 { zero } else { r });
    }

    /// `(set-ipv4-src ctx v)` / `(set-ipv4-dst ctx v)`: the address, the IPv4 header
    /// checksum and the TCP/UDP checksum (the address is in its pseudo-header).
    #[inline(always)]
    fn set_ipv4_addr(&self, off: usize, v: u64) -> Option<()> {
        let hd = self.hdrs()?;
        let h = match hd.ip4() {
            Some(h) => h,
            None => return Some(()),
        };
        let sum = hd.l4s()?;
        let old: u32 = Pkt::field(h, off);
        let new = (v as u32).to_be();
        Self::poke(h + off, new);
        Self::fix32(h + 10, old, new, 0);
        if let Some(s) = sum {
            let before: u16 = Pkt::field(s.at, 0);
            Self::fix32(s.at, old, new, s.zero);
            self.csum_update(s.at, before);
        }
        Some(())
    }

    #[inline(always)]
    pub fn set_ipv4_src(&self, v: u64) -> Option<()> {
        self.set_ipv4_addr(12, v)
    }

    #[inline(always)]
    pub fn set_ipv4_dst(&self, v: u64) -> Option<()> {
        self.set_ipv4_addr(16, v)
    }

    /// `(set-ip-ttl ctx v)`: the TTL and the IPv4 header checksum (TTL shares a word
    /// with the protocol).
    #[inline(always)]
    pub fn set_ip_ttl(&self, v: u64) -> Option<()> {
        if let Some(h) = self.hdrs()?.ip4() {
            let old: u16 = Pkt::field(h, 8);
            Self::poke(h + 8, v as u8);
            Self::fix16(h + 10, old, Pkt::field(h, 8), 0);
        }
        Some(())
    }

    /// `(set-l4-sport ctx v)` / `(set-l4-dport ctx v)`: a TCP/UDP port and the L4
    /// checksum (a UDP checksum of 0 stays 0).
    #[inline(always)]
    fn set_port(&self, off: usize, v: u64) -> Option<()> {
        if let Some(s) = self.hdrs()?.l4s()? {
            let old: u16 = Pkt::field(s.l4, off);
            let new = (v as u16).to_be();
            Self::poke(s.l4 + off, new);
            Self::fix16(s.at, old, new, s.zero);
        }
        Some(())
    }

    #[inline(always)]
    pub fn set_l4_sport(&self, v: u64) -> Option<()> {
        self.set_port(0, v)
    }

    #[inline(always)]
    pub fn set_l4_dport(&self, v: u64) -> Option<()> {
        self.set_port(2, v)
    }

    /// `(set-icmp-type ctx v)`: the ICMP (or ICMPv6) type and its checksum; the type
    /// shares a word with the code.
    #[inline(always)]
    pub fn set_icmp_type(&self, v: u64) -> Option<()> {
        if let Some(l4) = self.hdrs()?.icmp4()? {
            let old: u16 = Pkt::field(l4, 0);
            Self::poke(l4, v as u8);
            Self::fix16(l4 + 2, old, Pkt::field(l4, 0), 0);
        }
        Some(())
    }

    /// `(swap-macs ctx)`: Ethernet source and destination exchanged (no checksum covers
    /// them).
    #[inline(always)]
    pub fn swap_macs(&self) -> Option<()> {
        let s = self.pkt.start;
        if s + ETH_HLEN > self.pkt.end {
            return None;
        }
        let (d0, d1): (u32, u16) = (Pkt::field(s, 0), Pkt::field(s, 4));
        let (s0, s1): (u32, u16) = (Pkt::field(s, 6), Pkt::field(s, 10));
        Self::poke(s, s0);
        Self::poke(s + 4, s1);
        Self::poke(s + 6, d0);
        Self::poke(s + 10, d1);
        Some(())
    }

    /// `(swap-ipv4 ctx)`: IPv4 source and destination exchanged; no checksum changes (the
    /// header and pseudo-header sums are the same words in another order).
    #[inline(always)]
    pub fn swap_ipv4(&self) -> Option<()> {
        if let Some(h) = self.hdrs()?.ip4() {
            let (a, b): (u32, u32) = (Pkt::field(h, 12), Pkt::field(h, 16));
            Self::poke(h + 12, b);
            Self::poke(h + 16, a);
        }
        Some(())
    }

    /// `(swap-l4-ports ctx)`: TCP/UDP source and destination ports exchanged (checksums
    /// unchanged, as for `swap_ipv4`).
    #[inline(always)]
    pub fn swap_l4_ports(&self) -> Option<()> {
        if let Some(s) = self.hdrs()?.l4s()? {
            let (a, b): (u16, u16) = (Pkt::field(s.l4, 0), Pkt::field(s.l4, 2));
            Self::poke(s.l4, b);
            Self::poke(s.l4 + 2, a);
        }
        Some(())
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

// Hand-written C twin of bench/dsl/rewrite.tlisp `port-rewrite` (for bench_codegen.py):
// 10.0.0.2:53 <-> 10.0.0.53:5353 over TCP or UDP, checksums fixed incrementally (RFC 1624);
// headers found by parse.h's walk (VLAN tags, IPv4 or IPv6), as the bpf-fn's accessors do.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include "parse.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

static __always_inline __u16 fold(__u64 s)
{
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (__u16)((s & 0xffff) + (s >> 16));
}

static __always_inline __u16 replace16(__u16 hc, __u16 old, __u16 new)
{
    return ~fold((__u64)(__u16)~hc + (__u16)~old + new);
}

static __always_inline __u16 replace32(__u16 hc, __u32 old, __u32 new)
{
    __u32 o = ~old;
    return ~fold((__u64)(__u16)~hc + (o & 0xffff) + (o >> 16) + (new & 0xffff) + (new >> 16));
}

SEC("xdp")
int port_rewrite(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct hdrs h;
    if (parse_hdrs(data, end, &h) < 0 || !h.l4)
        return XDP_PASS;
    if (h.proto != IPPROTO_TCP && h.proto != IPPROTO_UDP)
        return XDP_PASS;
    int udp = h.proto == IPPROTO_UDP;
    __u16 *sum = h.l4 + (udp ? 6 : 16);
    if ((void *)(sum + 1) > end)
        return XDP_PASS;
    __u16 *ports = h.l4;
    __u16 port = bpf_ntohs(ports[1]);
    if (port != 53 && port != 5353)
        return XDP_PASS;
    // each the sum of both values minus the current one (10.0.0.2 + 10.0.0.53)
    __u16 dport = bpf_htons(5406 - port);
    __u16 old_port = ports[1];
    ports[1] = dport;
    struct iphdr *ip = h.ip4;
    if (!ip) { // IPv6: the port alone (its address setter does nothing there)
        if (!(udp && *sum == 0)) {
            __u16 r = replace16(*sum, old_port, dport);
            *sum = (udp && r == 0) ? 0xffff : r;
        }
        return XDP_TX;
    }
    __u32 old_addr = ip->daddr;
    __u32 daddr = bpf_htonl(0x14000037 - bpf_ntohl(old_addr));
    ip->daddr = daddr;
    ip->check = replace32(ip->check, old_addr, daddr);
    int frag = (ip->frag_off & bpf_htons(0x1fff)) != 0;
    if (!frag && !(udp && *sum == 0)) {
        __u16 r = replace32(replace16(*sum, old_port, dport), old_addr, daddr);
        *sum = (udp && r == 0) ? 0xffff : r;
    }
    return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";

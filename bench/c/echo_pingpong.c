// Hand-written C twin of bench/dsl/rewrite.tlisp `echo-pingpong` (for bench_codegen.py):
// an ICMP echo request becomes the reply and back, MACs and addresses swapped, the ICMP
// checksum fixed incrementally (RFC 1624); headers found by parse.h's walk, as the
// bpf-fn's accessors do (a tagged request or one with IP options is answered too).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include "parse.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("xdp")
int echo_pingpong(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct hdrs h;
    if (parse_hdrs(data, end, &h) < 0 || !h.ip4 || h.proto != IPPROTO_ICMP || !h.l4)
        return XDP_PASS;
    struct ethhdr *eth = data;
    struct iphdr *ip = h.ip4;
    __u8 *icmp = h.l4;
    if ((void *)(icmp + 4) > end)
        return XDP_PASS;
    __u8 type = icmp[0];
    if (type != 8 && type != 0)
        return XDP_PASS;
    __u8 mac[ETH_ALEN];
    __builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, mac, ETH_ALEN);
    __u32 a = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = a;
    __u16 *word = (__u16 *)icmp, old = word[0];
    icmp[0] = 8 - type;
    __u16 *sum = word + 1;
    __u64 s = (__u16)~*sum + (__u16)~old + (__u64)word[0];
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    *sum = ~(__u16)s;
    return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";

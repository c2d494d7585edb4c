// Hand-written C twin of bench/dsl/parse.tlisp `ipv6-parse` (for bench_codegen.py): up to
// two VLAN tags, the IPv6 header, then up to six extension headers (hop-by-hop, routing,
// fragment, AH, destination options) before the UDP header, as the DSL's accessors do.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VLAN_MAX 2
#define EXT_MAX 6

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4);
} v6_ports SEC(".maps");

struct vlan_hdr {
    __be16 tci;
    __be16 proto;
};

struct ext_hdr {
    __u8 next;
    __u8 len;
    __be16 frag_off;
    __u32 rest;
};

SEC("xdp")
int ipv6_parse(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    __u16 proto = eth->h_proto;
    struct vlan_hdr *vh = (void *)(eth + 1);
#pragma unroll
    for (int i = 0; i < VLAN_MAX; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        if ((void *)(vh + 1) > end)
            return XDP_PASS;
        proto = vh->proto;
        vh++;
    }
    if (proto != bpf_htons(ETH_P_IPV6))
        return XDP_PASS;
    struct ipv6hdr *ip6 = (void *)vh;
    if ((void *)(ip6 + 1) > end)
        return XDP_PASS;
    if (ip6->hop_limit <= 1)
        return XDP_DROP;
    __u8 nh = ip6->nexthdr;
    struct ext_hdr *x = (void *)(ip6 + 1);
#pragma unroll
    for (int i = 0; i < EXT_MAX; i++) {
        if (nh != 0 && nh != 43 && nh != 44 && nh != 51 && nh != 60)
            break;
        if ((void *)(x + 1) > end)
            return XDP_PASS;
        __u32 size;
        if (nh == 44) {
            if (bpf_ntohs(x->frag_off) & 0xfff8)
                return XDP_PASS;
            size = 8;
        } else if (nh == 51) {
            size = (x->len + 2) * 4;
        } else {
            size = (x->len + 1) * 8;
        }
        nh = x->next;
        x = (void *)x + size;
    }
    if (nh != IPPROTO_UDP)
        return XDP_PASS;
    struct udphdr *udp = (void *)x;
    if ((void *)udp + 4 > end)
        return XDP_PASS;
    __u32 key = bpf_ntohs(udp->dest) & 3;
    __u64 *count = bpf_map_lookup_elem(&v6_ports, &key);
    if (count)
        *count += 1;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

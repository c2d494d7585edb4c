// The header walk the DSL's accessors do (templates/crate/rt.rs, `Pkt::parse`), shared
// by the C twins so each twin parses what its bpf-fn parses: up to two VLAN tags,
// IPv4 (IHL honoured) or IPv6, then up to six IPv6 extension headers (a non-first
// fragment stops the walk). xdp-tutorial's parsing_helpers.h walks the same way.
#ifndef TWIN_PARSE_H
#define TWIN_PARSE_H
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>

#define VLAN_MAX 2
#define EXT_MAX 6

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

struct hdrs {
    struct iphdr *ip4;   // NULL unless IPv4
    struct ipv6hdr *ip6; // NULL unless IPv6
    void *l4;            // NULL when there is no L4 header
    __u8 proto;          // the L4 protocol (after IPv6 extension headers), 0 if not IP
};

// 0 when parsed, -1 when the packet is shorter than a header it claims.
static __always_inline int parse_hdrs(void *data, void *end, struct hdrs *h)
{
    struct ethhdr *eth = data;
    h->ip4 = 0;
    h->ip6 = 0;
    h->l4 = 0;
    h->proto = 0;
    if ((void *)(eth + 1) > end)
        return -1;
    __u16 proto = eth->h_proto;
    struct vlan_hdr *vh = (void *)(eth + 1);
#pragma unroll
    for (int i = 0; i < VLAN_MAX; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        if ((void *)(vh + 1) > end)
            return -1;
        proto = vh->proto;
        vh++;
    }
    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)vh;
        if ((void *)(ip + 1) > end)
            return -1;
        if (ip->version != 4)
            return 0;
        h->ip4 = ip;
        h->proto = ip->protocol;
        if (ip->ihl >= 5)
            h->l4 = (void *)ip + ip->ihl * 4;
        return 0;
    }
    if (proto != bpf_htons(ETH_P_IPV6))
        return 0;
    struct ipv6hdr *ip6 = (void *)vh;
    if ((void *)(ip6 + 1) > end)
        return -1;
    if (ip6->version != 6)
        return 0;
    h->ip6 = ip6;
    __u8 nh = ip6->nexthdr;
    struct ext_hdr *x = (void *)(ip6 + 1);
    // a loop, as the DSL's walk is (clang would unroll it: about twice the instructions)
#pragma nounroll
    for (int i = 0; i < EXT_MAX; i++) {
        if (nh != 0 && nh != 43 && nh != 44 && nh != 51 && nh != 60)
            break;
        if ((void *)(x + 1) > end)
            return -1;
        __u32 size;
        if (nh == 44) {
            if (bpf_ntohs(x->frag_off) & 0xfff8)
                break;
            size = 8;
        } else if (nh == 51) {
            size = (x->len + 2) * 4;
        } else {
            size = (x->len + 1) * 8;
        }
        nh = x->next;
        x = (void *)x + size;
    }
    h->proto = nh;
    h->l4 = x;
    return 0;
}
#endif

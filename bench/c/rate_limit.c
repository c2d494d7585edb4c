// Hand-written C twin of examples/edge-protection.tlisp `rate-limit`.
// Parses as the bpf-fn does since issue 15: VLAN tags, IPv4 or IPv6 (bench/c/parse.h).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4096);
} tcp_budget SEC(".maps");

SEC("tc")
int rate_limit_tcp(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    struct hdrs h;
    if (parse_hdrs(data, end, &h) < 0 || h.proto != IPPROTO_TCP)
        return TC_ACT_OK;
    __u32 dst = h.ip4 ? bpf_ntohl(h.ip4->daddr) : 0;
    __u64 *n = bpf_map_lookup_elem(&tcp_budget, &dst);
    if (n) {
        __sync_fetch_and_add(n, 1);
    } else {
        __u64 one = 1;
        bpf_map_update_elem(&tcp_budget, &dst, &one, BPF_NOEXIST);
    }
    n = bpf_map_lookup_elem(&tcp_budget, &dst);
    if (n && *n > 100000)
        return TC_ACT_SHOT;
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

// Hand-written C twin of examples/edge-protection.tlisp `drop-syn` (for bench_codegen.py).
// Parses as the bpf-fn does since issue 15: VLAN tags, IPv4 or IPv6 (bench/c/parse.h).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} syn_counter SEC(".maps");

SEC("xdp")
int drop_syn_flood(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct hdrs h;
    if (parse_hdrs(data, end, &h) < 0 || h.proto != IPPROTO_TCP || !h.l4)
        return XDP_PASS;
    struct tcphdr *tcp = h.l4;
    if ((void *)tcp + 14 > end)
        return XDP_PASS;
    __u8 flags = ((__u8 *)tcp)[13];
    if ((flags & 2) && !(flags & 16)) {
        __u32 zero = 0;
        __u64 *count = bpf_map_lookup_elem(&syn_counter, &zero);
        if (count)
            *count += 1;
        return XDP_DROP;
    }
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

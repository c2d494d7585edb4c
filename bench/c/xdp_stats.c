// Hand-written C twin of examples/xdp-stats.tlisp (xdp-tutorial basic03's datarec per
// Parses as the bpf-fn does since issue 15: VLAN tags, IPv4 or IPv6 (bench/c/parse.h).
// action), for bench_codegen.py: records in a per-CPU map.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"

struct datarec {
    __u64 rx_packets;
    __u64 rx_bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct datarec);
    __uint(max_entries, 5);
} xdp_stats_map SEC(".maps");

SEC("xdp")
int xdp_stats(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct hdrs h;
    if (parse_hdrs(data, end, &h) < 0)
        return XDP_PASS;
    __u32 verdict = h.proto == 1 ? XDP_DROP : XDP_PASS;
    struct datarec *rec = bpf_map_lookup_elem(&xdp_stats_map, &verdict);
    if (rec) {
        rec->rx_packets++;
        rec->rx_bytes += end - data;
    }
    return verdict;
}

char LICENSE[] SEC("license") = "GPL";

// Hand-written C twin of examples/xdp-stats.tlisp (xdp-tutorial basic03's datarec per
// action), for bench_codegen.py: records in a per-CPU map.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

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
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    __u32 verdict = XDP_PASS;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end)
            return XDP_PASS;
        if (ip->protocol == 1)
            verdict = XDP_DROP;
    }
    struct datarec *rec = bpf_map_lookup_elem(&xdp_stats_map, &verdict);
    if (rec) {
        rec->rx_packets++;
        rec->rx_bytes += end - data;
    }
    return verdict;
}

char LICENSE[] SEC("license") = "GPL";

// Shape of xdp-tutorial basic03/basic04: per-action packet counters in a
// per-CPU array that libbpf pins by name (LIBBPF_PIN_BY_NAME).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct datarec {
    __u64 rx_packets;
    __u64 rx_bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct datarec);
    __uint(max_entries, 5);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_stats_map SEC(".maps");

SEC("xdp")
int xdp_stats_func(struct xdp_md *ctx)
{
    __u32 key = XDP_PASS;
    struct datarec *rec = bpf_map_lookup_elem(&xdp_stats_map, &key);

    if (!rec)
        return XDP_ABORTED;
    rec->rx_packets++;
    rec->rx_bytes += ctx->data_end - ctx->data;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

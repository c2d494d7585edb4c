// Shape of xdp-tutorial packet03 (redirect via a devmap `tx_port`) plus the
// other XDP redirect targets: devmap-hash, cpumap and xskmap; `xdp.frags`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __type(key, int);
    __type(value, int);
    __uint(max_entries, 256);
} tx_port SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
    __type(key, __u32);
    __type(value, struct bpf_devmap_val);
    __uint(max_entries, 64);
} tx_by_ifindex SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_CPUMAP);
    __type(key, __u32);
    __type(value, struct bpf_cpumap_val);
    __uint(max_entries, 4);
} cpus SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 4);
} xsks SEC(".maps");

SEC("xdp")
int xdp_redirect_map_func(struct xdp_md *ctx)
{
    return bpf_redirect_map(&tx_port, 0, XDP_PASS);
}

SEC("xdp.frags")
int xdp_spread_func(struct xdp_md *ctx)
{
    __u32 q = ctx->rx_queue_index;

    if (bpf_map_lookup_elem(&xsks, &q))
        return bpf_redirect_map(&xsks, q, XDP_PASS);
    if (ctx->ingress_ifindex & 1)
        return bpf_redirect_map(&tx_by_ifindex, ctx->ingress_ifindex, XDP_PASS);
    return bpf_redirect_map(&cpus, q % 4, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";

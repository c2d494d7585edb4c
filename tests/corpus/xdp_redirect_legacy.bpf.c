// Shape of older redirect samples (kernel selftests' xdp_redirect_map, small
// devmap redirectors): legacy section names and a devmap declared with
// key_size/value_size members instead of key/value types.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __uint(max_entries, 8);
    __uint(key_size, sizeof(int));
    __uint(value_size, sizeof(int));
} out_port SEC(".maps");

SEC("xdp_redirect")
int xdp_redirect_func(struct xdp_md *ctx)
{
    return bpf_redirect_map(&out_port, 0, XDP_PASS);
}

SEC("redirect_map_1")
int xdp_redirect_map_1(struct xdp_md *ctx)
{
    return bpf_redirect_map(&out_port, 1, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";

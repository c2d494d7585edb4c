// Shape of xdp-tutorial packet02: legacy section names libbpf cannot map to a
// program type (SEC("xdp_patch_ports")); the spec's kind says what they are.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} patched SEC(".maps");

SEC("xdp_patch_ports")
int xdp_patch_ports_func(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u64 *n = bpf_map_lookup_elem(&patched, &zero);

    if (n)
        __sync_fetch_and_add(n, 1);
    return XDP_PASS;
}

SEC("xdp_pass")
int xdp_pass_func(struct xdp_md *ctx)
{
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

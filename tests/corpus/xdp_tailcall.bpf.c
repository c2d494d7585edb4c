// Shape of a tail-call dispatcher (cilium/ebpf and xdp-tools style): a prog
// array of stages, and map-in-map tables (array-of-maps, hash-of-maps).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4);
};

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 8);
} stages SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __type(key, __u32);
    __uint(max_entries, 2);
    __array(values, struct inner);
} tables SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __type(key, __u32);
    __uint(max_entries, 16);
    __array(values, struct inner);
} tables_by_id SEC(".maps");

SEC("xdp")
int xdp_dispatch(struct xdp_md *ctx)
{
    __u32 zero = 0;
    void *t = bpf_map_lookup_elem(&tables, &zero);

    if (!t)
        t = bpf_map_lookup_elem(&tables_by_id, &zero);
    if (t) {
        __u64 *n = bpf_map_lookup_elem(t, &zero);
        if (n)
            __sync_fetch_and_add(n, 1);
    }
    bpf_tail_call(ctx, &stages, 0);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

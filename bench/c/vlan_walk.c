// Hand-written C twin of bench/dsl/parse.tlisp `vlan-walk` (for bench_codegen.py): up to
// two 802.1Q/802.1ad tags skipped, as xdp-tutorial's parse_ethhdr_vlan does.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VLAN_MAX 2

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4);
} vlan_tags SEC(".maps");

struct vlan_hdr {
    __be16 tci;
    __be16 proto;
};

SEC("xdp")
int vlan_walk(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    __u16 proto = eth->h_proto;
    struct vlan_hdr *vh = (void *)(eth + 1);
    __u32 tags = 0, vid = 0;
#pragma unroll
    for (int i = 0; i < VLAN_MAX; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        if ((void *)(vh + 1) > end)
            return XDP_PASS;
        if (i == 0)
            vid = bpf_ntohs(vh->tci) & 0x0fff;
        proto = vh->proto;
        vh++;
        tags++;
    }
    if (proto == bpf_htons(ETH_P_IP)) {
        __u64 *count = bpf_map_lookup_elem(&vlan_tags, &tags);
        if (count)
            *count += 1;
    }
    return vid == 100 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

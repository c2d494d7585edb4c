// Counts IPv4 UDP packets in udp_packets[0]; passes everything.
// Built with: clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c count_udp.bpf.c -o count_udp.bpf.o
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} udp_packets SEC(".maps");

SEC("xdp")
int count_udp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + sizeof(*eth);
    __u32 zero = 0;
    __u64 *count;

    if ((void *)(ip + 1) > end || eth->h_proto != __constant_htons(ETH_P_IP))
        return XDP_PASS;
    if (ip->protocol == IPPROTO_UDP) {
        count = bpf_map_lookup_elem(&udp_packets, &zero);
        if (count)
            __sync_fetch_and_add(count, 1);
    }
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

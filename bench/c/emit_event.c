// Hand-written C twin of bench/dsl/emit.tlisp `emit-event`, for bench_codegen.py: one
// record per packet to a ring buffer (bpf_ringbuf_output).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct pkt_event {
    __u8 src[4];
    __u16 dport;
    __u32 len;
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 262144);
} emit_ring SEC(".maps");

SEC("xdp")
int emit_event(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->ihl < 5)
        return XDP_PASS;
    struct pkt_event ev = {};
    __builtin_memcpy(ev.src, &ip->saddr, 4);
    if (ip->protocol == IPPROTO_UDP || ip->protocol == IPPROTO_TCP) {
        struct udphdr *udp = (void *)ip + ip->ihl * 4;
        if ((void *)(udp + 1) > end)
            return XDP_PASS;
        ev.dport = bpf_ntohs(udp->dest);
    }
    ev.len = end - data;
    bpf_ringbuf_output(&emit_ring, &ev, sizeof(ev), 0);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

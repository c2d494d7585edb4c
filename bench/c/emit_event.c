// Hand-written C twin of bench/dsl/emit.tlisp `emit-event`, for bench_codegen.py: one
// Parses as the bpf-fn does since issue 15: VLAN tags, IPv4 or IPv6 (bench/c/parse.h).
// record per packet to a ring buffer (bpf_ringbuf_output).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"

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
    struct hdrs h;
    if (parse_hdrs(data, end, &h) < 0)
        return XDP_PASS;
    struct pkt_event ev = {};
    if (h.ip4)
        __builtin_memcpy(ev.src, &h.ip4->saddr, 4);
    if (h.l4 && (h.proto == IPPROTO_UDP || h.proto == IPPROTO_TCP)) {
        struct udphdr *udp = h.l4;
        if ((void *)(udp + 1) > end)
            return XDP_PASS;
        ev.dport = bpf_ntohs(udp->dest);
    }
    ev.len = end - data;
    bpf_ringbuf_output(&emit_ring, &ev, sizeof(ev), 0);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

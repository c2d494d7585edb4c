// Hand-written C twin of bench/dsl/parse.tlisp `ipv6-parse` (for bench_codegen.py): the
// headers parsed first (bench/c/parse.h: VLAN tags, IPv6, up to six extension headers),
// then the hop limit and the UDP port, as the generated code does.
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include "parse.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4);
} v6_ports SEC(".maps");

SEC("xdp")
int ipv6_parse(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct hdrs h;
    if (parse_hdrs(data, end, &h) < 0 || !h.ip6)
        return XDP_PASS;
    if (h.ip6->hop_limit <= 1)
        return XDP_DROP;
    if (h.proto != IPPROTO_UDP)
        return XDP_PASS;
    struct udphdr *udp = h.l4;
    if ((void *)udp + 4 > end)
        return XDP_PASS;
    __u32 key = bpf_ntohs(udp->dest) & 3;
    __u64 *count = bpf_map_lookup_elem(&v6_ports, &key);
    if (count)
        *count += 1;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

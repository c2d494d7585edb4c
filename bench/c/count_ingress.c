// Hand-written C twin of examples/observability.tlisp `count-ingress` (cgroup-skb).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
} ingress_packets SEC(".maps");

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    __u8 *p = data;
    if ((void *)(p + 20) > end)
        return 1;
    if ((p[0] >> 4) == 4) {
        __u32 zero = 0;
        __u32 *n = bpf_map_lookup_elem(&ingress_packets, &zero);
        if (n)
            __sync_fetch_and_add(n, 1);
    }
    return 1;
}

char LICENSE[] SEC("license") = "GPL";

// One object, two programs: cgroup-skb ingress and egress counting into one
// shared array (the cilium/ebpf cgroup_skb example shape).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 2);
} pkt_count SEC(".maps");

static __always_inline int count(__u32 slot)
{
    __u64 *n = bpf_map_lookup_elem(&pkt_count, &slot);

    if (n)
        __sync_fetch_and_add(n, 1);
    return 1;
}

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb) { return count(0); }

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb) { return count(1); }

char LICENSE[] SEC("license") = "Dual MIT/GPL";

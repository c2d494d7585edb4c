// Shape of libbpf-bootstrap "tc": the same classifier under the `tc`,
// `classifier` and `tcx/ingress` section spellings, in one object.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 3);
} tc_seen SEC(".maps");

static __always_inline int seen(__u32 slot)
{
    __u64 *n = bpf_map_lookup_elem(&tc_seen, &slot);

    if (n)
        __sync_fetch_and_add(n, 1);
    return TC_ACT_OK;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb) { return seen(0); }

SEC("classifier")
int tc_classify(struct __sk_buff *skb) { return seen(1); }

SEC("tcx/ingress")
int tcx_ingress(struct __sk_buff *skb) { return seen(2); }

char LICENSE[] SEC("license") = "GPL";

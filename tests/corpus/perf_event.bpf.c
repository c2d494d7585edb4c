// Shape of libbpf-bootstrap "profile": a perf_event program sampling stacks
// into a stack-trace map.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, 256);
    __type(key, __u32);
    __uint(value_size, 32 * sizeof(__u64));
} profile_stacks SEC(".maps");

SEC("perf_event")
int profile(void *ctx)
{
    bpf_get_stackid(ctx, &profile_stacks, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Shape of libbpf-bootstrap "kprobe"/"uprobe": entry and return probes plus a
// uprobe, with a stack-trace map the probes record into.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __uint(value_size, 127 * sizeof(__u64));
} stacks SEC(".maps");

SEC("kprobe/do_unlinkat")
int unlink_entry(void *ctx)
{
    bpf_get_stackid(ctx, &stacks, 0);
    return 0;
}

SEC("kretprobe/do_unlinkat")
int unlink_exit(void *ctx)
{
    return 0;
}

SEC("uprobe/libc.so.6:malloc")
int malloc_entry(void *ctx)
{
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

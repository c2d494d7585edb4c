// Shape of libbpf-bootstrap "fentry": fentry/fexit on a kernel function.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("fentry/do_unlinkat")
int unlink_fentry(unsigned long long *ctx)
{
    return 0;
}

SEC("fexit/do_unlinkat")
int unlink_fexit(unsigned long long *ctx)
{
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

// An LSM hook program (`lsm/`), allowing every file open.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("lsm/file_open")
int allow_open(unsigned long long *ctx)
{
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

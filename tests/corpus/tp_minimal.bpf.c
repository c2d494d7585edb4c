// Shape of libbpf-bootstrap "minimal": a `tp/` tracepoint program and a global
// variable (a .bss map created by libbpf, not by us).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int watched_pid = 0;
__u64 hits = 0;

SEC("tp/syscalls/sys_enter_getpid")
int handle_tp(void *ctx)
{
    int pid = bpf_get_current_pid_tgid() >> 32;

    if (watched_pid && pid != watched_pid)
        return 0;
    __sync_fetch_and_add(&hits, 1);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// Shape of libbpf-bootstrap "bootstrap": two tracepoint programs in ONE object
// (`tracepoint/` and `tp/` spellings) sharing a hash map and a ring buffer.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
    __u32 pid;
    __u32 exit;
    __u64 duration_ns;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8192);
    __type(key, __u32);
    __type(value, __u64);
} exec_start SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} rb SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int handle_exec(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    __u64 ts = bpf_ktime_get_ns();

    bpf_map_update_elem(&exec_start, &pid, &ts, BPF_ANY);
    return 0;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    __u64 *start = bpf_map_lookup_elem(&exec_start, &pid);
    struct event *e;

    e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
    if (!e)
        return 0;
    e->pid = pid;
    e->exit = 1;
    e->duration_ns = start ? bpf_ktime_get_ns() - *start : 0;
    bpf_map_delete_elem(&exec_start, &pid);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// libbpf-bootstrap's ppid read (bootstrap.bpf.c): BPF_CORE_READ(task, real_parent, tgid),
// relocated by libbpf against the running kernel's BTF. Twin of the DSL in bench/bench_kbtf.py.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} by_pid SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 ppid = BPF_CORE_READ(task, real_parent, tgid);

	bpf_map_update_elem(&by_pid, &tgid, &ppid, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

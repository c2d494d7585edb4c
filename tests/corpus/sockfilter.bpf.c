// Shape of libbpf-bootstrap "sockfilter": a socket filter reporting through a
// ring buffer, with a sockmap of the sockets it serves.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} sock_events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SOCKMAP);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 16);
} socks SEC(".maps");

SEC("socket")
int socket_handler(struct __sk_buff *skb)
{
    __u32 *len = bpf_ringbuf_reserve(&sock_events, sizeof(*len), 0);

    if (len) {
        *len = skb->len;
        bpf_ringbuf_submit(len, 0);
    }
    return skb->len;
}

char LICENSE[] SEC("license") = "GPL";

"""`defbpf-test`: building packets and running them through programs in the kernel."""

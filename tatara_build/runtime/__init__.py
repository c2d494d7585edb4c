"""Runtimes: the BpfRuntime protocol, a simulated one, and bpftool subprocesses."""

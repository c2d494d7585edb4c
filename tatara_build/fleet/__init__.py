"""Shipping built policies to other hosts: self-contained artifacts, bpfman, Kubernetes."""

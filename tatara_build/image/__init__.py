"""OCI bytecode images of built policies (bpfman's format) and the registry client."""

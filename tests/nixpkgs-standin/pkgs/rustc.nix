# rustc as nixpkgs ships it for this purpose: it has `core` for bpfel-unknown-none in its
# sysroot (nixpkgs builds it; here the host rustc runs with --sysroot pointing at a core
# built once by scripts/setup-bpf-sysroot.sh). Like nixpkgs' rustc wrapper, no setup hook.
{ stdenv, host }:
stdenv.mkDerivation {
  pname = "rustc";
  version = host.rustcVersion;
  buildCommand = ''
    mkdir -p $out/bin
    cat > $out/bin/rustc <<EOF
    #!/bin/sh
    exec ${host.rustc} --sysroot ${host.bpfSysroot} "\$@"
    EOF
    chmod +x $out/bin/rustc
  '';
  passthru = { llvm = { version = host.llvmVersion; }; targetPlatforms = [ "bpfel-unknown-none" ]; };
}

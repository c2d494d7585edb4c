# Copied by tatara-build from nix/carryObject.nix.
# A precompiled `.bpf.o` carried as is: $out/<name>.bpf.o plus its BLAKE3 in <name>.b3
# (upstream substrate's ebpf.nix convention).
{ pkgs }:
{ name, object }:
pkgs.runCommand "bpf-${name}" { nativeBuildInputs = [ pkgs.b3sum ]; } ''
  mkdir -p $out
  cp ${object} $out/${name}.bpf.o
  (cd $out && b3sum ${name}.bpf.o > ${name}.b3)
''

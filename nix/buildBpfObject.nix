# A rendered aya crate -> one BPF object, hermetically.
#
# The route that is hermetic by construction: nixpkgs' rustc ships `core` for
# bpfel-unknown-none (no rust-src, no -Z build-std), RUSTC_BOOTSTRAP=1 unlocks the
# features aya-ebpf needs, and nixpkgs' bpf-linker is built against rustc.llvm, so
# their LLVMs match. Dependencies come from the rendered Cargo.lock through
# importCargoLock (per-crate checksums: no IFD, no hand-kept hash); no network.
{ pkgs }:
{
  # policy name; the derivation is `bpf-<name>`
  name
, # the rendered crate folder (contains Cargo.toml and Cargo.lock)
  src
, # the crate's [[bin]] name
  binName ? name
, target ? "bpfel-unknown-none"
}:
pkgs.stdenv.mkDerivation {
  pname = "bpf-${name}";
  version = "0.1.0";
  inherit src;

  cargoDeps = pkgs.rustPlatform.importCargoLock { lockFile = src + "/Cargo.lock"; };
  nativeBuildInputs = [ pkgs.rustPlatform.cargoSetupHook pkgs.rustc pkgs.cargo pkgs.bpf-linker ];

  env = {
    RUSTC_BOOTSTRAP = "1";
    CARGO_BUILD_TARGET = target;
    # aya-build (a build-dependency of aya-ebpf) must not spawn its own cargo.
    AYA_BUILD_SKIP = "1";
    SOURCE_DATE_EPOCH = "0";
    CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER = "bpf-linker";
  };

  buildPhase = ''
    runHook preBuild
    cargo rustc --release --offline --locked --target ${target} --bin ${binName} -- \
      -C debuginfo=2 -C link-arg=--btf -D warnings \
      --remap-path-prefix="$NIX_BUILD_TOP"=/build
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    mkdir -p $out
    cp target/${target}/release/${binName} $out/${name}.bpf.o
    runHook postInstall
  '';

  # The object is not a host binary: stripping or patching it breaks BTF and maps.
  dontStrip = true;
  dontPatchELF = true;
  dontFixup = true;
  doCheck = false;
  passthru = { inherit binName target; bpfObject = "${name}.bpf.o"; };
}

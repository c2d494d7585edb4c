# Copied by tatara-build from nix/buildBpfObject.nix.
# A rendered aya crate -> one BPF object, hermetically.
#
# nixpkgs' rustc ships `core` for bpfel-unknown-none (no rust-src, no -Z build-std),
# RUSTC_BOOTSTRAP=1 unlocks the features aya-ebpf needs, and nixpkgs' bpf-linker is
# built against rustc.llvm, so their LLVMs match. Dependencies come from the rendered
# Cargo.lock through importCargoLock (per-crate checksums: no IFD, no hand-kept hash).
#
# Flags: the rendered `.cargo/config.toml` already passes `-C debuginfo=2 -C
# link-arg=--btf` (bpf-linker refuses a repeated `--btf`), so the build adds only path
# remaps, through cargo's config so that they reach every crate (vendored ones too) and
# the object does not depend on where the build ran (sandboxed or not, or `tatara-build
# build --backend cargo`, which maps the same folders to the same names).
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
    SOURCE_DATE_EPOCH = "0";
    CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER = "bpf-linker";
    CARGO_TERM_COLOR = "never";
    CARGO_INCREMENTAL = "0";
  };

  buildPhase = ''
    runHook preBuild
    # nixpkgs' cargo and rustc carry no setup hook that sets this: without it cargo
    # writes under $HOME (/homeless-shelter).
    export CARGO_HOME="$NIX_BUILD_TOP/.cargo-home"
    remaps="\"--remap-path-prefix=$NIX_BUILD_TOP=/build\", \"--remap-path-prefix=$cargoDepsCopy=/cargo-deps\", \"--remap-path-prefix=$PWD=/tatara/${name}\""
    cargo rustc --release --offline --locked --target ${target} --bin ${binName} \
      --config "target.${target}.rustflags = [ $remaps ]" -- -D warnings
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

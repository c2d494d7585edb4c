# A small fake `pkgs` that records derivation attributes instead of building, in the
# spirit of nixpkgs' lib.runTests: enough of stdenv, runCommand and rustPlatform for
# the tatara-build library, nothing downloaded.
let
  # like mkDerivation, passthru attributes appear on the derivation itself
  drv = kind: attrs: attrs // (attrs.passthru or { }) // {
    type = "derivation";
    fakeKind = kind;
    name = attrs.name or "${attrs.pname}-${attrs.version}";
    outPath = "/nix/store/00000000000000000000000000000000-${attrs.name or attrs.pname}";
  };
  tool = name: drv "tool" { inherit name; };
in
{
  stdenv.mkDerivation = attrs: drv "mkDerivation" attrs;
  runCommand = name: env: script: drv "runCommand" (env // { inherit name script; });
  rustPlatform = {
    importCargoLock = args: { fakeKind = "importCargoLock"; inherit (args) lockFile; };
    cargoSetupHook = tool "cargo-setup-hook";
  };
  rustc = tool "rustc";
  cargo = tool "cargo";
  bpf-linker = tool "bpf-linker";
  # nixpkgs' package is `bpftools`; `bpftool` is only an alias (gone with allowAliases = false)
  bpftools = tool "bpftools";
  b3sum = tool "b3sum";
}

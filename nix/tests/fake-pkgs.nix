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
  bpftool = tool "bpftool";
  b3sum = tool "b3sum";
}

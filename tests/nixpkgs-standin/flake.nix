# The stand-in as a flake, for `--override-input nixpkgs path:<this folder>`: the outputs
# that flakes take from nixpkgs (lib, legacyPackages.<system>).
{
  description = "nixpkgs stand-in for tatara-build's test lane";
  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      lib = import ./lib.nix;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs systems (system: import ./. { inherit system; });
    };
}

# Copied by tatara-build from nix/default.nix.
# The tatara-build Nix library, one function per file (crane style).
#   lib = import ./nix { inherit pkgs; };
#   lib.buildBpfObject / lib.buildBpfPolicy / lib.carryObject / lib.mkPolicies
# Only builtins are used for logic, so the functions evaluate against a small fake
# `pkgs` in tests (nix/tests) as well as against nixpkgs.
{ pkgs }:
let
  self = {
    buildBpfObject = import ./buildBpfObject.nix { inherit pkgs; };
    carryObject = import ./carryObject.nix { inherit pkgs; };
    buildBpfPolicy = import ./buildBpfPolicy.nix { inherit pkgs; lib = self; };
    mkPolicies = import ./mkPolicies.nix { lib = self; };
  };
in
self

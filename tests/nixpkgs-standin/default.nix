# A stand-in for nixpkgs in the test lane: the subset of nixpkgs that tatara-build's nix/
# library and rendered flakes use, under nixpkgs' own names and argument conventions
# (stdenv.mkDerivation, runCommand, lib, fetchurl, rustPlatform.importCargoLock +
# cargoSetupHook, rustc, cargo, bpf-linker, bpftools, b3sum, python3). Packages wrap the
# host's tools (paths in ./host.nix, written by scripts/setup-nix-standin.sh), so builds
# run sandboxed with those paths as `extra-sandbox-paths`. It stands in for nixpkgs'
# packages only: our nix/ code is used unmodified on top of it.
{ system ? builtins.currentSystem, host ? import ./host.nix, ... }:
let
  lib = import ./lib.nix;
  stdenv = import ./pkgs/stdenv.nix { inherit lib system host; };
  hostTool = import ./pkgs/host-tool.nix { inherit stdenv; };
  runCommand = name: env: buildCommand:
    stdenv.mkDerivation ({ inherit name buildCommand; } // env);
  fetchurl = { url, sha256 ? null, hash ? null, name ? baseNameOf url }:
    import <nix/fetchurl.nix> ({ inherit url name; } // (if hash != null then { inherit hash; } else { inherit sha256; }));
  pkgs = {
    inherit lib stdenv system runCommand fetchurl;
    stdenvNoCC = stdenv;
    writeText = name: text: runCommand name { inherit text; passAsFile = [ "text" ]; } ''cp "$textPath" "$out"'';
    rustc = import ./pkgs/rustc.nix { inherit stdenv host; };
    cargo = hostTool { pname = "cargo"; version = host.rustcVersion; bins = { cargo = "/usr/bin/cargo"; }; };
    bpf-linker = hostTool { pname = "bpf-linker"; version = host.bpfLinkerVersion; bins = { bpf-linker = host.bpfLinker; }; };
    bpftools = hostTool { pname = "bpftools"; version = "host"; bins = { bpftool = host.bpftool; }; };
    b3sum = hostTool { pname = "b3sum"; version = "host"; bins = { b3sum = "/usr/bin/b3sum"; }; };
    python3 = hostTool { pname = "python3"; version = "host"; bins = { python3 = host.python3; }; };
    rustPlatform = import ./pkgs/rust-platform.nix { inherit lib stdenv fetchurl runCommand; };
  };
in
pkgs

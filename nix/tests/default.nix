# Unit tests of nix/: `nix-instantiate --eval --strict --json nix/tests` prints
# { passed = N; failed = [ ... ]; }. Each test is { expr; expected; } as lib.runTests.

let
  pkgs = import ./fake-pkgs.nix;
  lib = import ../. { inherit pkgs; };
  crateSrc = ./fixtures/demo;
  tataraBuild = pkgs.stdenv.mkDerivation { pname = "tatara-build"; version = "0.1.0"; };
  obj = lib.buildBpfObject { name = "demo"; src = crateSrc; };
  policyNoCli = lib.buildBpfPolicy { name = "demo"; src = crateSrc; };
  policy = lib.buildBpfPolicy {
    name = "demo"; src = crateSrc; tatara-build = tataraBuild; carried = [ "extra" ];
    specHash = "abc";
  };
  carried = lib.carryObject { name = "x"; object = ./fixtures/demo/objects/extra.bpf.o; };
  all = lib.mkPolicies {
    src = ./fixtures;
    tatara-build = tataraBuild;
    policies = [
      { name = "demo"; binName = "demo"; hasCrate = true; carried = [ ]; specHash = "h1"; }
      { name = "objonly"; binName = "objonly"; hasCrate = false; carried = [ "x" ]; specHash = "h2"; }
    ];
  };
  names = builtins.map (d: d.name or d.pname);
  has = needle: hay: builtins.match ".*${needle}.*" hay != null;
  tests = {
    testObjectName = { expr = obj.pname; expected = "bpf-demo"; };
    testObjectHermeticEnv = {
      expr = obj.env;
      # No AYA_BUILD_SKIP: only aya-build reads it, aya-ebpf does not (it did nothing).
      expected = {
        RUSTC_BOOTSTRAP = "1"; CARGO_BUILD_TARGET = "bpfel-unknown-none"; SOURCE_DATE_EPOCH = "0";
        CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER = "bpf-linker"; CARGO_TERM_COLOR = "never";
        CARGO_INCREMENTAL = "0";
      };
    };
    testBuildSetsCargoHome = {
      # nixpkgs' cargo has no setup hook setting it: cargo would write to /homeless-shelter.
      expr = has "export CARGO_HOME=\"\\$NIX_BUILD_TOP/.cargo-home\"" obj.buildPhase;
      expected = true;
    };
    testRemapsReachEveryCrate = {
      # `cargo rustc -- --remap-path-prefix` reaches the final crate only; cargo config
      # rustflags reach vendored crates too.
      expr = {
        config = has "--config \"target.bpfel-unknown-none.rustflags = " obj.buildPhase;
        vendored = has "remap-path-prefix=\\$cargoDepsCopy=/cargo-deps" obj.buildPhase;
        finalOnly = has "-- [^\n]*remap" obj.buildPhase;
      };
      expected = { config = true; vendored = true; finalOnly = false; };
    };
    testObjectNoStripNoPatch = {
      expr = { inherit (obj) dontStrip dontPatchELF dontFixup; };
      expected = { dontStrip = true; dontPatchELF = true; dontFixup = true; };
    };
    testObjectInputs = {
      expr = names obj.nativeBuildInputs;
      expected = [ "cargo-setup-hook" "rustc" "cargo" "bpf-linker" ];
    };
    testCargoLockFromRenderedCrate = {
      # importCargoLock reads the lock from the source path itself: no IFD, no hash.
      expr = { kind = obj.cargoDeps.fakeKind; file = baseNameOf (toString obj.cargoDeps.lockFile); };
      expected = { kind = "importCargoLock"; file = "Cargo.lock"; };
    };
    testBuildIsOfflineAndLocked = {
      expr = has "--offline --locked --target bpfel-unknown-none --bin demo" obj.buildPhase;
      expected = true;
    };
    testInstallsBpfO = { expr = has "release/demo \\$out/demo.bpf.o" obj.installPhase; expected = true; };
    testPolicyDerivationName = { expr = policy.name; expected = "bpf-demo"; };
    testPolicyPackagesManifest = {
      expr = has "tatara-build package \\$out --policy demo --spec-hash \"abc\" --route nix" policy.script;
      expected = true;
    };
    testPolicyWithoutCliWritesNoManifest = {
      expr = { pkg = has "tatara-build package" policyNoCli.script; inputs = names policyNoCli.nativeBuildInputs; };
      expected = { pkg = false; inputs = [ "b3sum" ]; };
    };
    testPolicyCopiesCarried = { expr = has "objects/extra.bpf.o \\$out/extra.bpf.o" policy.script; expected = true; };
    testPolicyWritesB3 = { expr = has "b3sum" policy.script; expected = true; };
    testCarryObject = {
      expr = { inherit (carried) name; b3 = has "b3sum x.bpf.o > x.b3" carried.script; };
      expected = { name = "bpf-x"; b3 = true; };
    };
    testMkPoliciesAttrs = { expr = builtins.attrNames all; expected = [ "demo" "objonly" ]; };
    testMkPoliciesObjectOnlyHasNoCrate = {
      expr = { demo = all.demo.crate != null; objonly = all.objonly.crate; };
      expected = { demo = true; objonly = null; };
    };
  };
  results = builtins.mapAttrs (n: t: t.expr == t.expected) tests;
  failed = builtins.filter (n: !results.${n}) (builtins.attrNames tests);
in
{
  passed = builtins.length (builtins.attrNames tests) - builtins.length failed;
  failed = map (n: { name = n; inherit (tests.${n}) expr expected; }) failed;
}

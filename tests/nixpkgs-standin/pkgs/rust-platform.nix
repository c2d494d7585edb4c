# rustPlatform.importCargoLock and cargoSetupHook with nixpkgs' layout: the vendor
# directory holds one unpacked crate per Cargo.lock entry (fetched by its checksum, a
# fixed-output fetch) plus `.cargo/config.toml` naming `@vendor@`; the hook copies it
# next to the source and appends that config to `.cargo/config.toml` in the build dir.
{ lib, stdenv, fetchurl, runCommand }:
let
  registry = "registry+https://github.com/rust-lang/crates.io-index";
  importCargoLock = { lockFile, outputHashes ? { } }:
    let
      lock = builtins.fromTOML (builtins.readFile lockFile);
      crates = builtins.filter (p: (p.source or "") == registry) (lock.package or [ ]);
      fetchCrate = p: fetchurl {
        name = "crate-${p.name}-${p.version}.tar.gz";
        url = "https://static.crates.io/crates/${p.name}/${p.name}-${p.version}.crate";
        sha256 = p.checksum;
      };
      unpack = p: ''
        mkdir -p "$out/${p.name}-${p.version}"
        tar xzf ${fetchCrate p} -C "$out/${p.name}-${p.version}" --strip-components=1
        printf '{"files":{},"package":"%s"}' ${p.checksum} > "$out/${p.name}-${p.version}/.cargo-checksum.json"
      '';
    in
    runCommand "cargo-vendor-dir" { } ''
      mkdir -p $out/.cargo
      ${builtins.concatStringsSep "\n" (map unpack crates)}
      cat > $out/.cargo/config.toml <<'EOF'
      [source.crates-io]
      replace-with = "vendored-sources"

      [source.vendored-sources]
      directory = "@vendor@"
      EOF
    '';
  cargoSetupHook = stdenv.mkDerivation {
    name = "cargo-setup-hook.sh";
    buildCommand = ''
      mkdir -p $out/nix-support
      cat > $out/nix-support/setup-hook <<'EOF'
      cargoSetupPostUnpackHook() {
        local dest
        dest=$(stripHash "$cargoDeps")
        cp -Lr -- "$cargoDeps" "$dest"
        chmod -R u+w -- "$dest"
        cargoDepsCopy="$(realpath -m "$dest")"
        mkdir -p .cargo
        sed "s|@vendor@|$cargoDepsCopy|" "$cargoDepsCopy/.cargo/config.toml" >> .cargo/config.toml
      }
      postUnpackHooks+=(cargoSetupPostUnpackHook)
      EOF
    '';
  };
in
{ inherit importCargoLock cargoSetupHook; }

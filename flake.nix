# tatara-build: the CLI as a package and app, the Nix library that builds rendered
# policies (nix/, one function per file), a dev shell, and checks.
{
  description = "tatara-build: hermetic eBPF builds from tatara-lisp / TOML / JSON specs";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      tataraBuildFor = pkgs: pkgs.python3Packages.buildPythonApplication {
        pname = "tatara-build";
        version = "0.1.0";
        pyproject = true;
        src = ./.;
        build-system = [ pkgs.python3Packages.hatchling ];
        dependencies = with pkgs.python3Packages; [
          pydantic typer rich jinja2 tomli-w pyelftools blake3
        ];
        nativeCheckInputs = [ pkgs.python3Packages.pytestCheckHook pkgs.python3Packages.hypothesis ];
        # The compile, kernel and nix lanes need a cargo cache, root and nix: CI runs them.
        # (pytestCheckHook joins pytestFlagsArray with spaces and word-splits it again, so a
        # `-m "not a and not b"` there breaks; disabledTestMarks is its own way.)
        disabledTestMarks = [ "compile" "kernel" "nix" ];
        meta.mainProgram = "tatara-build";
      };

      mkLib = pkgs: import ./nix { inherit pkgs; };
    in
    {
      lib = { inherit mkLib; };

      overlays.default = final: prev: {
        tatara-build = tataraBuildFor final;
        tataraBpf = mkLib final;
      };

      packages = forAllSystems (pkgs: rec {
        tatara-build = tataraBuildFor pkgs;
        default = tatara-build;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.tatara-build}/bin/tatara-build";
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            (pkgs.python3.withPackages (ps: with ps; [
              pydantic typer rich jinja2 tomli-w pyelftools blake3 pytest hypothesis
            ]))
            pkgs.bpftools pkgs.clang pkgs.llvm pkgs.rustc pkgs.cargo pkgs.bpf-linker pkgs.b3sum
            pkgs.iproute2 pkgs.ruff
          ];
          RUSTC_BOOTSTRAP = "1";
        };
      });

      checks = forAllSystems (pkgs:
        let
          system = pkgs.stdenv.hostPlatform.system;
          tatara-build = self.packages.${system}.tatara-build;
          # Every example policy built the Nix way, from the golden rendered tree that the
          # test suite keeps byte-identical to `tatara-build render examples/` (no IFD).
          examples = (mkLib pkgs).mkPolicies {
            src = ./tests/golden;
            policies = import ./tests/golden/policies.nix;
            inherit tatara-build;
          };
          nixUnit = pkgs.runCommand "tatara-nix-unit" { } ''
            result=${builtins.toFile "r.json" (builtins.toJSON (import ./nix/tests))}
            grep -q '"failed":\[\]' $result && touch $out
          '';
        in
        { inherit tatara-build nixUnit; } // examples);
    };
}

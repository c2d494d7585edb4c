# stdenv.mkDerivation with nixpkgs' phase names, hooks and argument conventions
# (pname/version, env, passthru, nativeBuildInputs with nix-support/setup-hook, runHook,
# buildCommand, dontFixup ...), on the host's /bin/bash and coreutils.
{ lib, system, host }:
let
  mkDerivation = attrs:
    let
      name = attrs.name or "${attrs.pname}-${attrs.version}";
      clean = builtins.removeAttrs attrs [ "passthru" "env" "meta" ];
      drv = derivation (clean // (attrs.env or { }) // {
        inherit name system;
        builder = "/bin/bash";
        args = [ "-e" ./setup.sh ];
        nativeBuildInputs = attrs.nativeBuildInputs or [ ];
        buildInputs = attrs.buildInputs or [ ];
      });
    in
    drv // (attrs.passthru or { }) // {
      meta = attrs.meta or { };
      passthru = attrs.passthru or { };
      overrideAttrs = f: mkDerivation (attrs // f attrs);
    } // (if attrs ? pname then { inherit (attrs) pname version; } else { });
in
{
  inherit mkDerivation;
  hostPlatform = { inherit system; };
  buildPlatform = { inherit system; };
  isLinux = true;
  shell = "/bin/bash";
}

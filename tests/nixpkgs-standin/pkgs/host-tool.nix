# A package whose bin/ links to a host executable (the stand-in for a nixpkgs package).
{ stdenv }:
{ pname, version, bins }:
stdenv.mkDerivation {
  inherit pname version;
  buildCommand = ''
    mkdir -p $out/bin
  '' + builtins.concatStringsSep "\n" (map (b: "ln -s ${bins.${b}} $out/bin/${b}") (builtins.attrNames bins));
}

# One rendered policy folder -> $out/<name>.bpf.o (the crate's object, if the policy
# has one) + every carried object + a `.b3` beside each + tatara.manifest.json, which
# `tatara-build package` reads back from the objects themselves (as `tatara-build build`).
{ pkgs, lib }:
{
  name
, # the rendered policy folder: <render out>/<name>
  src
, tatara-build
, hasCrate ? true
, binName ? name
, carried ? [ ]
, specHash ? ""
}:
let
  crate = if hasCrate then lib.buildBpfObject { inherit name src binName; } else null;
  copyCrate = if crate == null then "" else "cp ${crate}/${name}.bpf.o $out/";
  copyCarried = builtins.concatStringsSep "\n"
    (map (o: "cp ${src}/objects/${o}.bpf.o $out/${o}.bpf.o") carried);
in
pkgs.runCommand "bpf-${name}"
{
  nativeBuildInputs = [ tatara-build pkgs.bpftool pkgs.b3sum ];
  passthru = { inherit crate carried specHash; };
} ''
  mkdir -p $out
  ${copyCrate}
  ${copyCarried}
  for obj in $out/*.bpf.o; do
    (cd $out && b3sum "$(basename "$obj")" > "$(basename "$obj" .bpf.o).b3")
  done
  tatara-build package $out --policy ${name} --spec-hash "${specHash}" --route nix
''

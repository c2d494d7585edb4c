# Copied by tatara-build from nix/buildBpfPolicy.nix.
# One rendered policy folder -> $out/<name>.bpf.o (the crate's object, if the policy
# has one) + every carried object + a `.b3` beside each. With `tatara-build` given (the
# project's own flake), `tatara-build package` also writes tatara.manifest.json read back
# from the objects, as `tatara-build build` does; a rendered flake passes none (it carries
# this library, not the CLI) and `tatara-build build --backend nix` writes the manifest.
{ pkgs, lib }:
{
  name
, # the rendered policy folder: <render out>/<name>
  src
, tatara-build ? null
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
  packageStep = if tatara-build == null then "" else
    ''tatara-build package $out --policy ${name} --spec-hash "${specHash}" --route nix'';
in
pkgs.runCommand "bpf-${name}"
{
  nativeBuildInputs = [ pkgs.b3sum ] ++ (if tatara-build == null then [ ] else [ tatara-build ]);
  passthru = { inherit crate carried specHash; };
} ''
  mkdir -p $out
  ${copyCrate}
  ${copyCarried}
  for obj in $out/*.bpf.o; do
    (cd $out && b3sum "$(basename "$obj")" > "$(basename "$obj" .bpf.o).b3")
  done
  ${packageStep}
''

# The part of nixpkgs' `lib` that tatara-build's Nix uses, with nixpkgs' names and meaning.
rec {
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  mapAttrs = builtins.mapAttrs;
  attrNames = builtins.attrNames;
  concatStringsSep = builtins.concatStringsSep;
  concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
  optionalString = cond: s: if cond then s else "";
  optionals = cond: l: if cond then l else [ ];
  filterAttrs = pred: set: builtins.listToAttrs (builtins.concatMap
    (n: if pred n set.${n} then [{ name = n; value = set.${n}; }] else [ ]) (builtins.attrNames set));
  escapeShellArg = arg: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
  removeAttrs = builtins.removeAttrs;
  hasPrefix = pref: str: builtins.substring 0 (builtins.stringLength pref) str == pref;
  fileset = { };
}

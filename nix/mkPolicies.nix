# All policies of a rendered project -> an attrset `name -> derivation`.
#   policies: the rendered `policies.nix` (a list of { name, binName, hasCrate, carried, specHash })
{ lib }:
{ src, policies, tatara-build }:
builtins.listToAttrs (map
  (p: {
    name = p.name;
    value = lib.buildBpfPolicy {
      inherit (p) name binName hasCrate carried specHash;
      inherit tatara-build;
      src = src + "/${p.name}";
    };
  })
  policies)

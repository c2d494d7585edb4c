# All policies of a rendered project -> an attrset `name -> derivation`.
#   policies: the rendered `policies.nix` (a list of { name, binName, hasCrate, carried, specHash })
#   tatara-build: the CLI package, to write tatara.manifest.json inside Nix (optional)
{ lib }:
{ src, policies, tatara-build ? null }:
builtins.listToAttrs (map
  (p: {
    name = p.name;
    value = lib.buildBpfPolicy {
      inherit (p) name binName hasCrate carried specHash;
      inherit tatara-build;
      # By content: the same policy folder is the same store path (and the same
      # derivations) whether it comes from a rendered flake or a checkout.
      src = builtins.path { path = src + "/${p.name}"; name = p.name; };
    };
  })
  policies)

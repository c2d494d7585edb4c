# The host tools this stand-in wraps, as written by scripts/setup-nix-standin.sh.
builtins.fromJSON (builtins.readFile ./host.json)

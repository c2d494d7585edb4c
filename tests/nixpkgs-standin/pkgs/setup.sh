# The stand-in stdenv's generic builder: nixpkgs' phases, runHook and setup hooks.
set -eo pipefail
PATH=
for p in $nativeBuildInputs $buildInputs; do
  [ -d "$p/bin" ] && PATH="$PATH${PATH:+:}$p/bin"
done
export PATH="$PATH${PATH:+:}/usr/bin:/bin"
export HOME=/homeless-shelter
declare -a postUnpackHooks=() preBuildHooks=() postInstallHooks=()

stripHash() { basename "$1" | cut -c34-; }
runHook() {
  local hookName=$1 h
  local -n hooks="${hookName}Hooks"
  for h in "${hooks[@]}"; do "$h"; done
  eval "${!hookName:-}"
}
for p in $nativeBuildInputs $buildInputs; do
  if [ -f "$p/nix-support/setup-hook" ]; then source "$p/nix-support/setup-hook"; fi
done

unpackPhase() {
  runHook preUnpack
  sourceRoot=$(stripHash "$src")
  cp -r --no-preserve=mode -- "$src" "$sourceRoot"
  runHook postUnpack
}
patchPhase() { runHook prePatch; runHook postPatch; }
configurePhase() { runHook preConfigure; runHook postConfigure; }
buildPhase() { runHook preBuild; runHook postBuild; }
checkPhase() { runHook preCheck; runHook postCheck; }
installPhase() { runHook preInstall; runHook postInstall; }
fixupPhase() { runHook preFixup; runHook postFixup; }

runPhase() {
  local phase=$1
  if [ -n "${!phase:-}" ]; then eval "${!phase}"; else "$phase"; fi
}
genericBuild() {
  if [ -n "${buildCommand:-}" ]; then eval "$buildCommand"; return; fi
  cd "$NIX_BUILD_TOP"
  runPhase unpackPhase
  cd "$sourceRoot"
  runPhase patchPhase
  runPhase configurePhase
  runPhase buildPhase
  if [ -n "${doCheck:-}" ]; then runPhase checkPhase; fi
  runPhase installPhase
  if [ -z "${dontFixup:-}" ]; then runPhase fixupPhase; fi
}
genericBuild

"""`tatara-build k8s POLICY --image REF`: bpfman-operator manifests (fleet/k8s.py) as YAML."""

from pathlib import Path
from typing import Annotated

import typer


def k8s(policy: str, paths: list[Path], artifacts: Path, image: str, selector: list[str],
        cluster: bool | None, namespace: str, priority: int, out: Path | None) -> int:
    import yaml

    from tatara_build.cli.common import project_for
    from tatara_build.fleet import k8s as k8s_mod
    from tatara_build.image import layout
    from tatara_build.runtime.target import load_target

    t = load_target(project_for(policy, paths, artifacts), policy, artifacts)
    digests: dict[str, str] = {}
    if len(t.objects) > 1:  # one application per object, pinned to that image's digest
        blobs, index = layout.build(t.folder)
        from tatara_build.cli.image_verbs import _images

        digests = _images(blobs, index["manifests"][0])
    docs = k8s_mod.applications(t.policy, t.programs, t.owner, image, digests, cluster,
                                k8s_mod.parse_selector(selector), namespace, priority)
    text = yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)
    if out:
        out.write_text(text)
        print(f"wrote {out} ({len(docs)} {docs[0]['kind']})")
    else:
        print(text, end="")
    return 0


def k8s_cmd(policy: Annotated[str, typer.Argument(help="policy name")],
            paths: Annotated[list[Path] | None, typer.Argument(help="spec files or folders (default: the spec the artifacts carry)")] = None,
            image: Annotated[str, typer.Option("--image", help="the policy's image in a registry (tatara-build image push)")] = ...,
            artifacts: Annotated[Path, typer.Option("--artifacts", help="the build's artifacts folder")] = Path("out/artifacts"),
            node_selector: Annotated[list[str] | None, typer.Option("--node-selector", help="key=value node label (repeat)")] = None,
            cluster: Annotated[bool | None, typer.Option("--cluster/--namespaced", help="ClusterBpfApplication or namespaced BpfApplication (default: namespaced when every program allows it)")] = None,
            namespace: Annotated[str, typer.Option("--namespace", "-n", help="namespace of a BpfApplication")] = "default",
            priority: Annotated[int, typer.Option("--priority", help="xdp/tcx priority (0..1000)", min=0, max=1000)] = 500,
            out: Annotated[Path | None, typer.Option("-o", "--out", help="write the YAML here")] = None) -> None:
    """BpfApplication / ClusterBpfApplication YAML for bpfman-operator (kubectl apply -f)."""
    _run_verb(lambda: k8s(policy, paths or [], artifacts, image, node_selector or [], cluster,
                         namespace, priority, out), False)


def _run_verb(fn, as_json: bool) -> None:
    """cli.common.run_verb, imported when the verb runs (keeps `--version` fast)."""
    from tatara_build.cli.common import run_verb

    run_verb(fn, as_json)

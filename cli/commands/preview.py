"""``mlops preview``: resources, policy and cost of a stack, offline, before anything exists."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import echo, exit_on_error, progress_display

if TYPE_CHECKING:
    from mlops.composition.preview import StackDiff, StackPreview

app = typer.Typer()


@app.command("preview")
def preview(
    stack: Annotated[str, typer.Option(help="The stack to preview.")] = "dev",
    all_stacks: Annotated[bool, typer.Option("--all", help="Every stack of the project.")] = False,
    diff: Annotated[
        tuple[str, str] | None,
        typer.Option(
            help="Show what differs between two stacks, e.g. --diff dev prod.", metavar="A B"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    tree: Annotated[bool, typer.Option(help="Print the resource tree.")] = True,
    project: ProjectOption = None,
) -> None:
    """Check a stack before `pulumi up`: its resource tree, the policy pack, the monthly cost.

    The project's program runs under Pulumi's mock runtime: no cloud account, no credentials,
    no Pulumi CLI. The policy pack is the project's (policy/, its levels and settings in
    policy/config.json), the same rules `pulumi preview --policy-pack policy` runs. The cost is
    priced from a dated price table at the load the stack config assumes; `budget` in the stack
    config makes it a gate. Every rule policy/config.json lowers is listed with its reason.
    Exits 1 when a mandatory rule fails, when a rule is lowered without a "reason", or when the
    estimate is above budget.
    """
    with exit_on_error():
        from mlops.composition import preview as compose
        from mlops.core.errors import GuardrailsFailed
        from mlops.core.project import find_project

        root = find_project(project)
        if diff:
            result = compose.diff(root, diff[0], diff[1])
            echo(json.dumps(result.to_dict(), indent=2, default=str)) if as_json else _print_diff(
                result
            )
            return
        if all_stacks:
            with progress_display("stacks evaluated") as progress:
                previews = compose.preview_all(root, progress=progress)
        else:
            previews = [compose.preview(root, stack)]
        if as_json:
            ok = all(p.ok for p in previews)
            echo(json.dumps({"ok": ok, "stacks": [p.to_dict() for p in previews]}, indent=2))
        else:
            for p in previews:
                _print(p, tree)
        failed = [p.stack for p in previews if not p.ok]
        if failed:
            raise GuardrailsFailed(failed)


def _print(p: StackPreview, tree: bool) -> None:
    echo(
        f"stack {p.stack} ({p.flavour}): {len(p.nodes)} resources, evaluated in {p.seconds:.2f} s",
        "cyan",
    )
    if tree:
        for node in p.nodes:
            row = f"{'  ' * (node.depth + 1)}{node.type}  {node.name}"
            echo(f"{row}  [{node.summary}]" if node.summary else row)
    _print_policy(p)
    if p.cost is None:
        echo("cost: no estimate for Kubernetes stacks (the cluster's provider bills its nodes)")
        return
    cost = p.cost
    echo(
        f"cost (USD/month): idle {cost.idle:.2f} (compute {cost.idle_compute:.2f}),"
        f" expected load {cost.load:.2f}"
    )
    for line in cost.lines:
        figures = f"{line.idle:>9.2f} {line.load:>9.2f}"
        echo(f"  {line.category:<10} {line.item:<48} {line.basis:<38} {figures}")
    for note in cost.notes:
        echo(f"  note: {note}", "yellow")
    echo(f"  prices: {cost.source}")
    if not p.budget:
        echo(f"budget: none (set `budget` in Pulumi.{p.stack}.yaml to hold the estimate to it)")
    elif p.over_budget:
        echo(f"budget: {p.budget:.2f} exceeded by the expected load ({cost.load:.2f})", "red")
    else:
        echo(f"budget: {p.budget:.2f}, expected load {cost.load:.2f}: within", "green")


def _print_policy(p: StackPreview) -> None:
    advisory = [v for v in p.violations if v.level == "advisory"]
    verdict = f"{len(p.mandatory)} mandatory failed, {len(advisory)} advisory"
    lowered = len({rule for w in p.waivers for rule in w.rules})
    if lowered:
        verdict += f"; {lowered} of them lowered by {p.policy_file}"
    echo(f"policy: {p.rules} rules, {verdict}", "red" if p.mandatory or p.refused else "green")
    for w in p.waivers:
        if w.reason is None:
            echo(
                f"  waiver {w.describe()}: no reason given: refused. A rule mandatory by"
                f' default is lowered only with {{"enforcementLevel": "{w.level}",'
                ' "reason": "..."}',
                "red",
            )
        else:
            echo(f"  waiver {w.describe()}, reason: {_printable(w.reason)}", "yellow")
    for rule_id, settings in p.settings:
        echo(f"  changed {p.policy_file}: {json.dumps(rule_id)}: settings {_printable(settings)}")
    for v in p.violations:
        color = "red" if v.level == "mandatory" else "yellow"
        echo(f"  {v.level} {v.rule.id}: {v.resource}: {v.message}", color)
        echo(f"      fix: {v.rule.fix}")


def _print_diff(d: StackDiff) -> None:
    counts = (
        f"{len(d.only_left)} only in {d.left}, {len(d.only_right)} only in {d.right},"
        f" {len(d.changed)} inputs differ"
    )
    echo(f"{d.left} -> {d.right}: {counts}", "cyan")
    for name in d.only_left:
        echo(f"  - {name} (only in {d.left})", "red")
    for name in d.only_right:
        echo(f"  + {name} (only in {d.right})", "green")
    from mlops.composition.preview import first_difference

    for resource, key, left, right in d.changed:
        # The first differing key path inside the input, and the two values there.
        at, here, there = first_difference(left, right, key)
        echo(f"  ~ {resource}: {at}: {_short(here)} -> {_short(there)}")


def _printable(text: str) -> str:
    """Text from a project's files, with control characters escaped (no terminal tricks)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _short(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."

"""``llm-lineage attack VICTIM --kind KIND [options] -o OUT``: derive a suspect the way a thief would."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _render
from ._options import JsonOpt, ModelArg

KindOpt = Annotated[str, typer.Option("--kind", "-k", help="Attack kind: lora-qkv, lora-head, lq-lora, finetune, "
                                      "continue-pretrain, quantize, prune, rotate, permute, scale, upcycle-moe, "
                                      "unrelated.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Directory for the derived model.")]


def attack(victim: ModelArg, kind: KindOpt, out: OutOpt,
           rank: Annotated[int | None, typer.Option(help="LoRA rank (lora-*, lq-lora).")] = None,
           steps: Annotated[int | None, typer.Option(help="Training steps.")] = None,
           bits: Annotated[int | None, typer.Option(help="Bits per weight (quantize, lq-lora).")] = None,
           group_size: Annotated[int | None, typer.Option(help="Quantisation group size.")] = None,
           sparsity: Annotated[float | None, typer.Option(help="Fraction pruned (prune).")] = None,
           structure: Annotated[str | None, typer.Option(help="prune: unstructured, heads or neurons.")] = None,
           seed: Annotated[int | None, typer.Option(help="Seed of the attack's randomness.")] = None,
           option: Annotated[list[str] | None, typer.Option("--option", help="Any other attack option, key=value "
                                                            "(e.g. vocab=true, experts=8).")] = None,
           as_json: JsonOpt = False) -> None:
    """Apply one attack to VICTIM and save the suspect (a normal model directory + attack.json)."""
    from ..attacks import derive
    from ..evaluation.harness import parse_attacks

    options = {k: v for k, v in dict(rank=rank, steps=steps, bits=bits, group_size=group_size, sparsity=sparsity,
                                     structure=structure, seed=seed).items() if v is not None}
    if option:
        options.update(parse_attacks(":".join([kind, *option]))[0].options)
    path = derive(victim, kind, out, progress=not as_json, **options)
    _render.derived_model(path, kind, options, as_json=as_json)

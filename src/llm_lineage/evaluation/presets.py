"""Named attack sets for ``--attacks`` (imports nothing: the CLI reads them for its help)."""

# named attack sets for --attacks; entries are "kind[:option=value[:option=value]]"
PRESETS: dict[str, str] = {
    "reparam": "rotate,permute,scale",
    "vocab": "shuffle-vocab,extend-vocab",
    # merges of the victim with its own fine-tune ("@KIND": the victim after attack KIND) and, for
    # the passthrough, with an unrelated model: the victim is a parent of each (a derived pair)
    "merges": ("merge-linear:others=@finetune,merge-slerp:others=@finetune,merge-ties:others=@finetune,"
               "merge-dare:others=@finetune,merge-passthrough:others=@unrelated"),
    # behaviour copied, weights not: scored apart from derived and unrelated pairs
    "distillation": "distill,distill:top_k=5",
    "small": "finetune:steps=50,lora-qkv:rank=8:steps=30,quantize:bits=4,rotate,scale,unrelated:seed=11",
    "all": ("lora-qkv:rank=16,lora-head:rank=16,lq-lora:bits=4:rank=16:steps=30,gradnormlorp:rank=8:steps=30,"
            "finetune,continue-pretrain,"
            "quantize:bits=8,quantize:bits=4,prune:sparsity=0.3,prune:structure=heads:sparsity=0.25,"
            "rotate,permute,shuffle-vocab,extend-vocab,scale,upcycle-moe,unrelated:seed=11,unrelated:seed=12"),
}

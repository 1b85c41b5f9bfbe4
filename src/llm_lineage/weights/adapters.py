"""Checkpoint keys -> roles, per architecture.

A role is what a tensor *is* in the field's words: ``embed_tokens``, ``lm_head``, ``final_norm``
and, per layer, ``q_proj`` ... ``o_proj``, ``attn_norm``, ``mlp_norm``, ``gate_proj``,
``up_proj``, ``down_proj`` (gated MLPs) or ``fc_in``/``fc_out`` (plain MLPs), ``router`` and
per-expert MLP roles in MoE layers. Biases are the same role with ``.bias`` appended.

Every layout is stored as HF ``nn.Linear`` ``[out, in]`` once read: GPT-2's Conv1D weights are
transposed, packed QKV (GPT-2 ``c_attn``, Phi-3 ``qkv_proj``, GPT-NeoX/Falcon
``query_key_value``) and packed gate/up (Phi-3 ``gate_up_proj``) are split, so methods never see
a layout. ``model_type`` picks the packed layout and norm naming; key names do the rest, so an
unknown ``model_type`` still maps through the generic suffix table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# (suffix regex after "<...>.layers.<i>.", role); first match wins
_LAYER_SUFFIXES: list[tuple[str, str]] = [
    # attention projections
    (r"(?:self_attn|attn|attention|self_attention)\.(?:q_proj|wq|query|q)", "q_proj"),
    (r"(?:self_attn|attn|attention|self_attention)\.(?:k_proj|wk|key|k)", "k_proj"),
    (r"(?:self_attn|attn|attention|self_attention)\.(?:v_proj|wv|value|v)", "v_proj"),
    (r"(?:self_attn|attn|attention|self_attention)\.(?:o_proj|wo|out_proj|dense|c_proj|o)", "o_proj"),
    (r"(?:self_attn|attn|attention|self_attention)\.(?:qkv_proj|c_attn|query_key_value|W_pack|Wqkv)", "qkv_proj"),
    (r"(?:self_attn|attn|attention)\.q_norm", "q_norm"),
    (r"(?:self_attn|attn|attention)\.k_norm", "k_norm"),
    # norms
    (r"(?:input_layernorm|ln_1|self_attn_layer_norm|attention_norm|ln_attn|attn_norm)", "attn_norm"),
    (r"(?:pre_feedforward_layernorm|ln_2|final_layer_norm|ffn_norm|ln_mlp)", "mlp_norm"),
    (r"post_attention_layernorm", "mlp_norm"),  # gemma2/3 override: a post-attention norm there
    (r"post_feedforward_layernorm", "post_mlp_norm"),
    # MoE (before the dense MLP patterns: "mlp.gate" must not be read as a gated MLP)
    (r"(?:block_sparse_moe|mlp|moe)\.(?:gate|router)", "router"),
    (r"(?:block_sparse_moe|mlp|moe)\.experts\.(?P<expert>\d+)\.(?:w1|gate_proj)", "gate_proj"),
    (r"(?:block_sparse_moe|mlp|moe)\.experts\.(?P<expert>\d+)\.(?:w3|up_proj)", "up_proj"),
    (r"(?:block_sparse_moe|mlp|moe)\.experts\.(?P<expert>\d+)\.(?:w2|down_proj)", "down_proj"),
    (r"(?:block_sparse_moe|mlp|moe)\.experts\.gate_up_proj", "experts.gate_up_proj"),
    (r"(?:block_sparse_moe|mlp|moe)\.experts\.gate_proj", "experts.gate_proj"),
    (r"(?:block_sparse_moe|mlp|moe)\.experts\.up_proj", "experts.up_proj"),
    (r"(?:block_sparse_moe|mlp|moe)\.experts\.down_proj", "experts.down_proj"),
    (r"mlp\.shared_experts?\.gate_proj", "shared_expert.gate_proj"),
    (r"mlp\.shared_experts?\.up_proj", "shared_expert.up_proj"),
    (r"mlp\.shared_experts?\.down_proj", "shared_expert.down_proj"),
    # dense MLP
    (r"(?:mlp|feed_forward)\.(?:gate_proj|w1)", "gate_proj"),
    (r"(?:mlp|feed_forward)\.(?:up_proj|w3)", "up_proj"),
    (r"(?:mlp|feed_forward)\.(?:down_proj|w2)", "down_proj"),
    (r"mlp\.gate_up_proj", "gate_up_proj"),
    (r"(?:mlp\.)?(?:c_fc|fc_in|fc1|dense_h_to_4h)", "fc_in"),
    (r"(?:mlp\.)?(?:c_proj|fc_out|fc2|dense_4h_to_h)", "fc_out"),
]
_LAYER_RE = re.compile(r"^(?:.*?\.)?(?:layers|h|blocks|layer)\.(?P<layer>\d+)\.(?P<rest>.+)\.(?P<kind>weight|bias)$")

_GLOBAL_SUFFIXES: list[tuple[str, str]] = [
    (r"(?:.*\.)?(?:embed_tokens|wte|embed_in|word_embeddings|tok_embeddings|token_embd)", "embed_tokens"),
    (r"(?:.*\.)?(?:wpe|embed_positions)", "embed_positions"),
    (r"(?:lm_head|embed_out|output)", "lm_head"),
    (r"(?:.*\.)?(?:norm|ln_f|final_layer_norm|final_layernorm|norm_f)", "final_norm"),
]
_GLOBAL_RE = re.compile(r"^(?P<name>.+)\.(?P<kind>weight|bias)$")


@dataclass(frozen=True)
class Adapter:
    """How one family lays out its tensors beyond what key names say."""

    name: str
    qkv_layout: str = "concat"  # concat | neox | falcon: how a packed qkv_proj splits
    conv1d: bool = False  # GPT-2: linear weights stored [in, out]
    gated_mlp: bool | None = None  # None: decided by which keys exist
    role_overrides: dict[str, str] = field(default_factory=dict)  # key-suffix regex -> role

    def layer_role(self, rest: str) -> tuple[str, int | None] | None:
        for pattern, role in [*self.role_overrides.items(), *_LAYER_SUFFIXES]:
            if m := re.fullmatch(pattern, rest):
                expert = m.groupdict().get("expert")
                return role, None if expert is None else int(expert)
        return None


_GEMMA2 = {r"post_attention_layernorm": "post_attn_norm"}

ADAPTERS: dict[str, Adapter] = {
    **{t: Adapter(t) for t in ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3",
                               "qwen3_moe", "gemma", "phi3", "olmo", "olmo2", "granite")},
    "gemma2": Adapter("gemma2", role_overrides=_GEMMA2),
    "gemma3": Adapter("gemma3", role_overrides=_GEMMA2),
    "gemma3_text": Adapter("gemma3_text", role_overrides=_GEMMA2),
    "gpt2": Adapter("gpt2", conv1d=True, gated_mlp=False),
    "gpt_neox": Adapter("gpt_neox", qkv_layout="neox", gated_mlp=False),
    "opt": Adapter("opt", gated_mlp=False),
    "falcon": Adapter("falcon", qkv_layout="falcon", gated_mlp=False),
}
GENERIC = Adapter("generic")


def adapter_for(model_type: str) -> Adapter:
    return ADAPTERS.get(model_type, GENERIC)


RoleKey = tuple[str, int | None, int | None]  # (role, layer, expert)


def map_keys(keys: list[str], adapter: Adapter) -> tuple[dict[RoleKey, str], list[str]]:
    """Assign every key a role; return the mapping and the keys no role took: those no pattern
    claimed and those whose role an earlier key already holds (two norms read as one must show)."""
    roles: dict[RoleKey, str] = {}
    unmapped: list[str] = []

    def claim(role: RoleKey, key: str) -> None:
        if roles.setdefault(role, key) != key:
            unmapped.append(key)

    for key in keys:
        if m := _LAYER_RE.match(key):
            found = adapter.layer_role(m["rest"])
            if found:
                role, expert = found
                suffix = "" if m["kind"] == "weight" else ".bias"
                claim((role + suffix, int(m["layer"]), expert), key)
                continue
        elif m := _GLOBAL_RE.match(key):
            for pattern, role in _GLOBAL_SUFFIXES:
                if re.fullmatch(pattern, m["name"]):
                    suffix = "" if m["kind"] == "weight" else ".bias"
                    claim((role + suffix, None, None), key)
                    break
            else:
                unmapped.append(key)
            continue
        unmapped.append(key)
    return roles, unmapped

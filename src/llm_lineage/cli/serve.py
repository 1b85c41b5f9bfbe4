"""``llm-lineage serve MODEL``: a local model as an OpenAI-compatible completions and chat endpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _render
from ._options import ModelArg


def serve(
    model: ModelArg,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one (printed on start).")] = 8000,
    served_name: Annotated[str | None, typer.Option(
        "--served-name", help="Model id clients pass (default: the directory name).")] = None,
    max_top_logprobs: Annotated[int | None, typer.Option(
        "--max-top-logprobs", help="Refuse logprobs above K (OpenAI: 5 or 20).")] = None,
    no_logprobs: Annotated[bool, typer.Option(
        "--no-logprobs", help="Never return log-probs: a text-only server, as many chat APIs are.")] = False,
    no_logit_bias: Annotated[bool, typer.Option("--no-logit-bias", help="Refuse requests with logit_bias.")] = False,
    ignore_bias: Annotated[bool, typer.Option(
        "--ignore-logit-bias-in-logprobs",
        help="Bias picks the token, log-probs stay unbiased (OpenAI, vLLM, llama.cpp).")] = False,
    max_biased_tokens: Annotated[int | None, typer.Option(
        "--max-biased-tokens", help="Refuse logit_bias with more tokens (OpenAI: 300).")] = None,
    logprob_decimals: Annotated[int | None, typer.Option("--logprob-decimals", help="Round returned log-probs to D decimals.")] = None,
    no_echo: Annotated[bool, typer.Option("--no-echo", help="Refuse echo (prompt log-probs).")] = False,
    fault_rate: Annotated[float, typer.Option(
        "--fault-rate", help="For tests: share of requests failing with 429/500/time-out.")] = 0.0,
    fault_delay: Annotated[float, typer.Option("--fault-delay", help="Seconds an injected time-out stalls.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Seed of the fault injection.")] = 0,
    latency: Annotated[float, typer.Option("--latency", help="Seconds each answer waits, as a provider's round trip does.")] = 0.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Largest max_tokens a request may ask for.")] = 256,
    admin: Annotated[bool, typer.Option("--admin", help="For tests: enable /admin/pause and /admin/resume "
                                                        "(loopback hosts only).")] = False,
) -> None:
    """Serve MODEL at http://HOST:PORT/v1 (/v1/completions, /v1/chat/completions, /v1/models; /stats counts
    answered queries)."""
    from ..errors import InputError
    from ..serve import ServeOptions
    from ..serve import serve as run_server

    if admin and host not in ("127.0.0.1", "localhost", "::1"):
        raise InputError(f"--admin is for tests on a loopback host, not {host}")
    options = ServeOptions(max_top_logprobs=max_top_logprobs, logprobs=not no_logprobs, logit_bias=not no_logit_bias,
                           ignore_logit_bias_in_logprobs=ignore_bias, max_biased_tokens=max_biased_tokens,
                           logprob_decimals=logprob_decimals, echo=not no_echo, fault_rate=fault_rate,
                           fault_delay=fault_delay, seed=seed, latency=latency, max_tokens=max_tokens,
                           admin=admin)
    run_server(model, host=host, port=port, options=options, served_name=served_name, on_ready=_render.serving)

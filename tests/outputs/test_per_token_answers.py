"""The per-token log-prob form (llama-server's completions, chat APIs) read as the completions
API's columns: ids kept where given, text where not, and a wrong shape reported."""

from __future__ import annotations

import pytest

from llm_lineage.errors import EndpointMalformed
from llm_lineage.outputs.openai_endpoint import _logprobs_block, id_text_pairs

ANSWER = {"choices": [{"text": ",", "logprobs": {
    "tokens": None, "token_logprobs": None, "top_logprobs": None,  # what the openai SDK adds
    "content": [{"id": 14, "token": ",", "logprob": -0.01,
                 "top_logprobs": [{"id": 14, "token": ",", "logprob": -0.01}, {"id": 16, "token": ".", "logprob": -7.5},
                                  {"token": " it", "logprob": -8.3}]}]}}]}


def test_ids_are_read_as_ids_and_text_where_no_id_is_given():
    block = _logprobs_block(ANSWER)
    assert block["tokens"] == ["token_id:14"] and block["token_logprobs"] == [-0.01]
    assert block["top_logprobs"] == [{"token_id:14": -0.01, "token_id:16": -7.5, " it": -8.3}]
    assert id_text_pairs(ANSWER) == [(14, ","), (14, ","), (16, ".")]


def test_read_by_text_keys_every_token_by_its_text():
    assert _logprobs_block(ANSWER, by_text=True)["top_logprobs"] == [{",": -0.01, ".": -7.5, " it": -8.3}]


def test_a_per_token_answer_of_the_wrong_shape_is_reported():
    broken = {"choices": [{"logprobs": {"content": [{"id": 1, "logprob": -1.0, "top_logprobs": ["x"]}]}}]}
    with pytest.raises(EndpointMalformed, match="wrong shape"):
        _logprobs_block(broken)

"""The OpenAI-compatible server, in process (FastAPI's TestClient): answers, imitations, faults, counts."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from llm_lineage.serve import LocalBackend, ServeOptions, create_app

PROMPT = "Once upon a time there was"


def client(backend: LocalBackend, **options) -> TestClient:
    return TestClient(create_app(backend, ServeOptions(**options), served_name="m"))


def complete(c: TestClient, **body):
    return c.post("/v1/completions", json={"model": "m", "prompt": PROMPT, "max_tokens": 1, **body})


def top(answer: dict, position: int = -1) -> dict[int, float]:
    entries = answer["choices"][0]["logprobs"]["top_logprobs"][position]
    return {int(k.split(":")[1]): v for k, v in entries.items()}


def test_models_lists_the_served_name(backend):
    data = client(backend).get("/v1/models").json()["data"]
    assert [m["id"] for m in data] == ["m"] and data[0]["vocab_size"] == backend.vocab_size


def test_top_logprobs_are_the_models_own(backend, reference):
    answer = complete(client(backend), logprobs=5, return_tokens_as_token_ids=True).json()
    expected = reference.top_logprobs(PROMPT, top_k=5)
    got = top(answer)
    assert list(got) == expected.token_ids.tolist()
    np.testing.assert_allclose(list(got.values()), expected.logprobs, atol=1e-5)
    assert answer["choices"][0]["logprobs"]["tokens"] == [f"token_id:{expected.sampled_id}"]


def test_logit_bias_shifts_logprobs_unless_told_to_ignore_it(backend, reference):
    target = int(reference.top_logprobs(PROMPT, top_k=5).token_ids[3])
    body = dict(logprobs=5, logit_bias={str(target): 30.0}, return_tokens_as_token_ids=True)
    shifted = complete(client(backend), **body).json()
    ignored = complete(client(backend, ignore_logit_bias_in_logprobs=True), **body).json()
    for answer in (shifted, ignored):  # the bias always picks the token
        assert answer["choices"][0]["logprobs"]["tokens"] == [f"token_id:{target}"]
    expected = reference.top_logprobs(PROMPT, top_k=5, logit_bias={target: 30.0})
    np.testing.assert_allclose(top(shifted)[target], expected.logprobs[0], atol=1e-5)
    assert next(iter(top(ignored))) != target  # unbiased: the argmax still leads the log-probs


def test_provider_limits_are_refused_with_400(backend):
    assert complete(client(backend, max_top_logprobs=5), logprobs=6).status_code == 400
    assert complete(client(backend, max_top_logprobs=5), logprobs=5).status_code == 200
    assert complete(client(backend, logit_bias=False), logit_bias={"3": 1.0}).status_code == 400
    many = {str(t): 0.0 for t in range(301)}
    assert complete(client(backend, max_biased_tokens=300), logit_bias=many).status_code == 400
    assert complete(client(backend), logit_bias={"3": 101.0}).status_code == 400
    assert complete(client(backend), logit_bias={"99999": 1.0}).status_code == 400
    assert complete(client(backend, echo=False), echo=True, logprobs=1).status_code == 400
    assert complete(client(backend), max_tokens=0).status_code == 400
    assert complete(client(backend), model="other").status_code == 404


def test_rounding_and_no_logprobs(backend):
    answer = complete(client(backend, logprob_decimals=2), logprobs=5).json()
    values = list(answer["choices"][0]["logprobs"]["top_logprobs"][0].values())
    assert all(round(v, 2) == v for v in values)
    assert complete(client(backend, logprobs=False), logprobs=5).json()["choices"][0]["logprobs"] is None


def test_echo_scores_each_prompt_token(backend, reference):
    ids = backend.encode(PROMPT)
    answer = complete(client(backend), prompt=ids + [7], logprobs=1, echo=True,
                      return_tokens_as_token_ids=True).json()
    block = answer["choices"][0]["logprobs"]
    assert block["token_logprobs"][0] is None and len(block["tokens"]) == len(ids) + 2
    np.testing.assert_allclose(block["token_logprobs"][len(ids)], reference.logprobs(PROMPT)[7], atol=1e-5)


def test_greedy_generation_of_several_tokens(backend, reference):
    answer = complete(client(backend), max_tokens=3, logprobs=1, return_tokens_as_token_ids=True).json()
    tokens = [int(t.split(":")[1]) for t in answer["choices"][0]["logprobs"]["tokens"]]
    assert len(tokens) == 3 and tokens[0] == int(np.argmax(reference.logits(PROMPT)))
    assert answer["usage"]["completion_tokens"] == 3


def test_injected_faults_and_the_query_counter(backend):
    c = client(backend, fault_rate=0.5, fault_kinds=("429", "500"), seed=1)
    codes = [complete(c, logit_bias={str(i): 1.0}).status_code for i in range(40)]
    assert {429, 500, 200} == set(codes)
    stats = c.get("/stats").json()
    assert stats["answered"] == codes.count(200)
    assert sum(stats["faults"].values()) == len(codes) - codes.count(200)
    complete(c, logit_bias={"0": 1.0})  # may fault; ask until one repeat is answered
    for _ in range(20):
        if complete(c, logit_bias={"1": 1.0}).status_code == 200 and c.get("/stats").json()["repeated"]:
            break
    assert c.get("/stats").json()["repeated"] >= 1


def chat(c: TestClient, **body):
    return c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": PROMPT}],
                                                "max_tokens": 8, **body})


def test_chat_answers_through_the_template_with_logprobs_unless_hidden(backend):
    c = client(backend)
    answer = chat(c, logprobs=True, top_logprobs=3).json()
    choice = answer["choices"][0]
    assert answer["object"] == "chat.completion" and choice["message"]["role"] == "assistant"
    content = choice["logprobs"]["content"]
    assert len(content) == 8 and "".join(t["token"] for t in content) == choice["message"]["content"]
    assert all(len(t["top_logprobs"]) == 3 and t["logprob"] <= 0 for t in content)
    # greedy by default: the same as a completion of the templated prompt
    templated = backend.chat_ids([{"role": "user", "content": PROMPT}])
    assert complete(c, prompt=templated, max_tokens=8).json()["choices"][0]["text"] == choice["message"]["content"]
    hidden = chat(client(backend, logprobs=False), logprobs=True, top_logprobs=3).json()["choices"][0]
    assert hidden["logprobs"] is None and hidden["message"]["content"] == choice["message"]["content"]


def test_sampling_follows_temperature_and_seed(backend):
    c = client(backend)
    texts = {seed: chat(c, temperature=1.0, seed=seed, max_tokens=16).json()["choices"][0]["message"]["content"]
             for seed in range(4)}
    assert len(set(texts.values())) > 1  # sampled, not greedy
    assert chat(c, temperature=1.0, seed=2, max_tokens=16).json()["choices"][0]["message"]["content"] == texts[2]
    assert complete(c, temperature=1.0, seed=5, max_tokens=16).json()["choices"][0]["text"] == \
        complete(c, temperature=1.0, seed=5, max_tokens=16).json()["choices"][0]["text"]


def test_malformed_chat_requests_are_400(backend):
    c = client(backend)
    for body in ({"messages": []}, {"messages": "hi"}, {"messages": [{"role": "user"}]},
                 {"messages": [{"role": "user", "content": 3}]}):
        assert c.post("/v1/chat/completions", json={"model": "m", **body}).status_code == 400
    for extra in ({"temperature": -1}, {"temperature": "hot"}, {"seed": -3}, {"logprobs": "yes"},
                  {"max_tokens": 0}):
        answer = chat(c, **extra)
        assert answer.status_code == 400 and answer.json()["error"]["param"], extra

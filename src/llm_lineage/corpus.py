"""Local text corpora, generated deterministically, so no machine needs to download data.

Two domains with different vocabularies and rhythms: ``stories`` (short children's stories, the
zoo's pre-training text) and ``manuals`` (procedural, technical prose, the "different corpus" of
continued pre-training and fine-tuning attacks). A few hundred KB each, generated in well under a
second from a seed.
"""

from __future__ import annotations

import random
from functools import lru_cache

_NAMES = ["Lily", "Tom", "Mia", "Ben", "Sue", "Max", "Anna", "Leo", "Zoe", "Sam", "Ella", "Jack"]
_ANIMALS = ["cat", "dog", "bird", "frog", "bunny", "fox", "duck", "bear", "mouse", "horse"]
_PLACES = ["park", "garden", "forest", "beach", "lake", "hill", "farm", "town", "river", "yard"]
_THINGS = ["ball", "kite", "box", "hat", "cake", "toy", "book", "flower", "shell", "stone", "boat"]
_ADJ = ["big", "small", "red", "happy", "shiny", "soft", "old", "little", "blue", "funny", "bright"]
_FEEL = ["happy", "sad", "scared", "proud", "tired", "excited", "curious", "angry", "calm"]
_VERBS = ["found", "saw", "lost", "wanted", "shared", "made", "painted", "carried", "hid", "fixed"]

_TOOLS = ["valve", "sensor", "bracket", "pump", "filter", "cable", "switch", "gasket", "rotor", "panel"]
_ACTIONS = ["Loosen", "Tighten", "Inspect", "Replace", "Calibrate", "Clean", "Disconnect", "Align",
            "Measure", "Lubricate"]
_UNITS = ["mm", "kPa", "rpm", "volts", "amps", "degrees", "seconds", "newton metres"]
_WARN = ["Wear protective gloves.", "Turn off the main power first.", "Do not exceed the rated load.",
         "Keep the area ventilated.", "Check the seal for cracks.", "Record the reading in the log."]


def _story(rng: random.Random) -> str:
    name, friend = rng.sample(_NAMES, 2)
    animal, place, thing = rng.choice(_ANIMALS), rng.choice(_PLACES), rng.choice(_THINGS)
    adj, feel, verb = rng.choice(_ADJ), rng.choice(_FEEL), rng.choice(_VERBS)
    lines = [
        f"Once upon a time, there was a {adj} {animal} named {name}.",
        f"{name} liked to play in the {place} every day.",
        f"One day, {name} {verb} a {rng.choice(_ADJ)} {thing} near the {rng.choice(_PLACES)}.",
        f"{name} felt {feel} and ran to tell {friend}.",
        f'"Look at this {thing}!" said {name}. "Can we keep it?"',
        f"{friend} smiled and said, \"Let us share it together.\"",
    ]
    rng.shuffle(lines[2:5])
    extra = [f"The {rng.choice(_ADJ)} {rng.choice(_ANIMALS)} watched from the {rng.choice(_PLACES)}.",
             f"They played until the sun went down and the sky was {rng.choice(['pink', 'orange', 'dark'])}.",
             f"{name} learned that sharing makes everyone {rng.choice(_FEEL)}."]
    return " ".join(lines + rng.sample(extra, rng.randint(1, 3)))


def _manual(rng: random.Random) -> str:
    tool = rng.choice(_TOOLS)
    steps = []
    for i in range(1, rng.randint(3, 6) + 1):
        act, part = rng.choice(_ACTIONS), rng.choice(_TOOLS)
        steps.append(f"Step {i}: {act} the {part} to {rng.randint(2, 950)} {rng.choice(_UNITS)}.")
    return (f"Section {rng.randint(1, 40)}.{rng.randint(1, 9)} Maintenance of the {tool}. "
            + " ".join(steps) + " " + rng.choice(_WARN)
            + f" If the {rng.choice(_TOOLS)} fails the test, contact service with code E{rng.randint(100, 999)}.")


_GENERATORS = {"stories": _story, "manuals": _manual}
DOMAINS = tuple(_GENERATORS)


@lru_cache(maxsize=8)
def generate(domain: str = "stories", n_docs: int = 2000, seed: int = 0) -> tuple[str, ...]:
    """``n_docs`` documents of one domain; the same arguments always give the same text."""
    if domain not in _GENERATORS:
        raise ValueError(f"unknown corpus domain {domain!r}; choose from {', '.join(DOMAINS)}")
    rng = random.Random(f"{domain}:{seed}")
    return tuple(_GENERATORS[domain](rng) for _ in range(n_docs))


def _openings(domain: str, count: int, cut) -> list[str]:
    """``count`` distinct openings: a repeated prompt repeats an output, which is no new evidence."""
    seen: dict[str, None] = {}
    for i, doc in enumerate(generate(domain, 8 * count, seed=99)):
        seen.setdefault(cut(i, doc), None)
        if len(seen) == count:
            return list(seen)
    raise RuntimeError(f"the {domain} generator gave fewer than {count} distinct openings")


PROMPTS: tuple[str, ...] = tuple(
    _openings("stories", 200, lambda i, doc: doc.split(". ")[0][: 20 + (i * 7) % 40])
    + _openings("manuals", 100, lambda i, doc: doc[: 15 + (i * 5) % 50]))
"""Varied prompts for querying suspects: story and manual openings cut at varied lengths, all distinct."""


PROMPT_SET = "llm-lineage-prompts/2"
"""Version of :func:`query_prompts`: a key or a cached campaign records it, so evidence is only ever
compared with evidence asked on the same prompts."""

_WORDS = tuple(dict.fromkeys(w.lower() for group in (_NAMES, _ANIMALS, _PLACES, _THINGS, _ADJ, _FEEL, _VERBS,
                                                     _TOOLS, _ACTIONS, _UNITS) for w in group))


def query_prompts(n: int) -> tuple[str, ...]:
    """``n`` distinct prompts for any width, in chains: each built-in opening (in a fixed shuffled
    order) continued by 12 seeded words from both domains' vocabularies, then every shorter prefix
    at a word boundary down to the opening itself, longest first. After the 300 openings, further
    rounds continue them with other words.

    A key of hidden size h asks for h + 32 outputs, so production widths (576-8192 and beyond)
    need thousands of distinct contexts; continuations keep them readable text, which every
    tokenizer and every completions or chat API takes. A chain's prompts are prefixes of one
    text, so a local model answers all 13 from one forward pass (``outputs.LocalModel``).

    >>> len(set(query_prompts(5000))) == 5000
    True
    >>> query_prompts(5) == query_prompts(400)[:5]
    True
    >>> chain = query_prompts(13)
    >>> all(longer.startswith(shorter) for longer, shorter in zip(chain, chain[1:]))
    True
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    openings = [PROMPTS[i] for i in _shuffled(len(PROMPTS))]
    rng = random.Random(PROMPT_SET)
    out: dict[str, None] = {}
    first_round = True
    while len(out) < n:
        for opening in openings:
            words = [rng.choice(_WORDS) for _ in range(_CHAIN)]
            chain = [opening + " " + " ".join(words[:k]) for k in range(_CHAIN, 0, -1)]
            for prompt in chain + ([opening] if first_round else []):
                out.setdefault(prompt, None)
            if len(out) >= n:
                break
        first_round = False
    return tuple(out)[:n]


_CHAIN = 12


def _shuffled(n: int) -> list[int]:
    import numpy as np  # the order earlier versions asked the built-in prompts in: cached answers stay valid

    return [int(i) for i in np.random.default_rng(0).permutation(n)]

"""The one exception tree.

Every problem a user can cause or fix is a :class:`LineageError`; the CLI maps it, once, to a
single line (plus an optional hint) and an exit code. Anything else is a bug and keeps its
traceback.

Exit codes: 0 ran (whatever the verdict), 1 bug, 2 bad input, 3 endpoint trouble, 4 an attested
bundle or opening failed its check.
"""

from __future__ import annotations


class LineageError(Exception):
    """Root of every error a user can cause or fix."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


# --- bad input: files, arguments, formats (exit 2) -------------------------------------------


class InputError(LineageError):
    exit_code = 2


class ModelNotFound(InputError, FileNotFoundError):
    hint = "pass a model directory (config.json + *.safetensors), a .safetensors or a .gguf file"


class ConfigError(InputError):
    """config.json missing, malformed, or lacking a field a method needs."""


class UnsupportedFormat(InputError):
    pass


class CheckpointError(InputError):
    """A weight file that cannot be trusted: truncated, corrupt, inconsistent."""


class MissingShard(CheckpointError, FileNotFoundError):
    pass


class CorruptCheckpoint(CheckpointError):
    pass


class PickleRefused(CheckpointError):
    hint = "pass --allow-pickle if you trust this file (it is then loaded with weights_only=True)"


class MissingTensor(CheckpointError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NonFiniteWeights(CheckpointError):
    hint = "the checkpoint is damaged or was saved from a diverged run"


class KeyFileError(InputError):
    """A saved fingerprint / owner key that is missing, corrupt or of another version."""


class VocabularyMismatch(InputError):
    pass


class NonFiniteOutputs(InputError):
    hint = "the suspect returned NaN/inf log-probs; check its dtype and inputs"


class RegistryError(InputError):
    pass


# --- endpoints (exit 3) ----------------------------------------------------------------------


class EndpointError(LineageError):
    exit_code = 3


class EndpointUnsupported(EndpointError):
    """The endpoint cannot give the evidence a method needs (no logprobs, no logit_bias, ...)."""


class EndpointUnavailable(EndpointError):
    """Rate limits, server errors, time-outs or dropped connections after all retries."""

    hint = "rerun with --resume: answered queries are cached and will not be paid for again"


class QueryBudgetExceeded(EndpointError):
    hint = "raise --max-queries, or rerun with --resume to spend the rest later"


class EndpointMalformed(EndpointError):
    """The endpoint answered, but not as an OpenAI-compatible server does (not retried: it would
    answer the same again)."""

    hint = "check that the URL is an OpenAI-compatible /v1 endpoint and the model id is right"


class EndpointRejected(EndpointError):
    """The endpoint answered a request with a 4xx: it does not accept what was asked."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


# --- attestation (exit 4) ------------------------------------------------------------------------


class AttestationFailed(LineageError):
    """A published bundle or an opening did not check out: a bad signature, a file that changed, a
    chunk that does not match the commitment, a fingerprint its opened weights do not give."""

    exit_code = 4


def first_line(exc: BaseException, limit: int | None = 200) -> str:
    """An exception's first line (its type's name when it has no message), cut to ``limit``: what
    an error of ours quotes from a library's."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return line if limit is None else line[:limit]

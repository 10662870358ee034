"""Loading a question's models ahead, on a thread, while the store opens (issue #18, fast start).

A cold ``lifelog ask`` spends most of its time in two waits that do not depend on each other:
importing LanceDB and opening the memory (the store's tables, the passphrase's scrypt), and
loading the text model (onnxruntime's session, the tokenizer) that every question's scoring
needs. :func:`load_question_models_ahead` starts the second on a daemon thread before the first
begins; onnxruntime builds its session (and hashlib hashes the model files for their versions)
with the GIL released, so on two cores they overlap instead of adding up. The modules the
thread needs are imported by the caller first (a few hundredths of a second): two threads never
import the same modules at once.

Nothing changes but when the models load: the answer uses the same shared encoders
(``lifelog.encoders``' process-wide instances, made once under a lock, so a question that gets
there first simply waits for the load under way). A failure here is swallowed: the question
meets the same error at its own load and reports it as it always did (a missing model names
the file and how to build it). Importing this module imports only the standard library.
"""

from __future__ import annotations

import atexit
import logging
import threading

__all__ = ["load_question_models_ahead"]

log = logging.getLogger(__name__)
EXIT_WAIT_S = 30.0  # at most this long at exit for a load still under way


def _load() -> None:
    from lifelog.encoders import get_text_encoder, get_visual_encoder

    try:
        get_visual_encoder()  # the label names and vectors the scorer reads (no session: it is not run)
        get_text_encoder().encode(["a"])  # the session and the tokenizer, made once
    except Exception as e:  # the question reports it when it loads the model itself
        log.debug("loading the question's models ahead failed: %s", e)


def load_question_models_ahead() -> threading.Thread:
    """Start loading the models a question needs, on a daemon thread (returned, started)."""
    import tokenizers  # noqa: F401

    import lifelog.encoders  # noqa: F401  (here, on the caller's thread: see the module's docstring)

    thread = threading.Thread(target=_load, name="lifelog-models-ahead", daemon=True)
    thread.start()
    # a process that ends early (the memory would not open) lets the load finish first: never
    # torn down under onnxruntime's feet while it builds its session
    atexit.register(thread.join, EXIT_WAIT_S)
    return thread

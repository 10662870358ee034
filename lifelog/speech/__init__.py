"""Speech: what was said, by whom, and when (see ``docs/speech.md``).

* :mod:`lifelog.speech.audio` — any file's audio → 16 kHz mono float32, streamed in chunks;
* :mod:`lifelog.speech.transcribe` — Silero VAD + Whisper (faster-whisper, or a user's own
  openai-whisper checkpoint) with word timestamps;
* :mod:`lifelog.speech.store` — utterance rows (text encrypted) and the blind keyword index;
* :mod:`lifelog.speech.job` — ``transcribe_media``: the job that runs after a file's import;
* :mod:`lifelog.speech.speakers` — who spoke, from the faces visible during an utterance;
* :mod:`lifelog.speech.recall` — utterance hits for ``ask`` and "what did X say" questions.

Importing this package loads no model and imports neither faster-whisper nor PyAV.
"""

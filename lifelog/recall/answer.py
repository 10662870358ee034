"""Answering a question: parse → retrieve episodes → apply the intent → a sentence with evidence.

Scoring is documented in ``docs/recall.md``. In short, for the subject *s* of the question:

* **semantic**: cosine between the text vector of *s* and each frame's ConSE vector (the
  probability-weighted mean of the text vectors of the frame's top ImageNet labels);
* **label**: the probability mass of the frame's top labels that name *s* (word match on the
  label's lemmas) or mean the same thing (label text vector close to *s*).

A frame's score is ``max(label, semantic_calibrated)``; an episode's score is its best frame's.
An episode **matches** when its score clears :data:`lifelog.recall.score.MATCH_THRESHOLD`,
calibrated on the sample days so that questions about things never seen (skiing, a giraffe) find
nothing.

A question is asked of a :class:`~lifelog.recall.context.RecallContext` (``lifelog.api.Memory``
is one) and searched the way a :class:`~lifelog.recall.strategy.RecallStrategy` says: the
product always uses the default, benchmarks switch its speed-ups off to measure them.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from lifelog.recall.context import RecallContext
from lifelog.recall.model_search import model_query, rescore_frames
from lifelog.recall.parse import Intent, ParsedQuestion, parse_question
from lifelog.recall.retrieve import candidate_frames, label_filter, label_rows, merge_candidates, window_where
from lifelog.recall.score import (
    FUNCTION_WORDS,
    TEXT_BEARERS,
    TEXT_LINKS,
    Scorer,
    frame_scores,
    head_noun,
    noun_chunks,
)
from lifelog.recall.strategy import DEFAULT_STRATEGY, RecallStrategy
from lifelog.recall.who_where import GraphReply, graph_question, place_asked, who_talked

if TYPE_CHECKING:
    from lifelog.objects.detect import DetectionHit
    from lifelog.speech.recall import SpeechEpisodeHit, SpeechQuestion

EvidenceKind = Literal["frame", "transcript", "face", "object", "ocr", "label", "place"]


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    time: datetime
    text: str
    thumbnail: str | None
    speaker: str | None = None  # transcript evidence: the person id of who spoke, if known

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kind": self.kind, "time": self.time.isoformat(), "text": self.text, "thumbnail": self.thumbnail
        }
        if self.kind == "transcript":
            doc["speaker"] = self.speaker
        return doc


@dataclass(frozen=True)
class Hit:
    episode_id: str
    start: datetime
    end: datetime
    score: float
    evidence: list[Evidence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "score": round(float(self.score), 4),
            "evidence": [e.to_json() for e in self.evidence],
        }


@dataclass(frozen=True)
class PersonToName:
    """Someone an answer is about who has no name yet: each front end offers its own way to
    name them (the app a Name… button, the CLI a hint); the sentence holds no command."""

    person_id: str
    crop_id: str | None  # vault blob id of their best face crop
    thumbnail: str | None  # a decrypted copy of it in the private folder (``thumbnails=True``)
    suggested_name: str | None = None  # the name the question used, when nobody has it yet

    def to_json(self) -> dict[str, Any]:
        return {"id": self.person_id, "thumbnail_id": self.crop_id, "thumbnail": self.thumbnail,
                "suggested_name": self.suggested_name}


@dataclass(frozen=True)
class Answer:
    question: str
    intent: Intent
    answer: str
    count: int | None
    hits: list[Hit]
    parsed: ParsedQuestion | None = None
    to_name: list[PersonToName] = field(default_factory=list)  # people not named yet the answer is about

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "question": self.question,
            "intent": self.intent,
            "answer": self.answer,
            "count": self.count,
            "hits": [h.to_json() for h in self.hits],
            "to_name": [p.to_json() for p in self.to_name],
        }
        if self.parsed is not None:
            w = self.parsed.window
            doc["understood"] = {
                "subject": self.parsed.subject,
                "window": None
                if w is None
                else {
                    "start": w.start.isoformat() if w.start else None,
                    "end": w.end.isoformat() if w.end else None,
                    "phrase": w.phrase,
                },
                "count_unit": self.parsed.count_unit,
            }
        return doc


class OcrHit(NamedTuple):
    """The best line read in an episode that matches the question."""

    score: float
    text: str
    time: datetime


class EpisodeSpan(TypedDict):
    """An episode's row as recall reads it (``episodes`` table)."""

    id: str
    start: datetime
    end: datetime


# ---------------------------------------------------------------------- answer
def ask(
    ctx: RecallContext,
    question: str,
    now: datetime,
    limit: int = 5,
    thumbnails: bool = True,
    *,
    strategy: RecallStrategy = DEFAULT_STRATEGY,
) -> Answer:
    """Answer ``question`` as asked at ``now``. With ``thumbnails`` each frame's evidence names a
    decrypted copy of its thumbnail in the memory's private folder (``RecallContext.thumbnail_file``).
    ``strategy`` is for benchmarks and tests only (:class:`~lifelog.recall.strategy.RecallStrategy`).

    An import or a forget in another process may tidy a table while the question reads it: the
    files of the version being read are gone (they hold nothing the latest version needs). The
    question is then asked again of the latest versions (:data:`GONE_RETRIES` times at most)."""
    from lifelog.store.db import gone_version

    for attempt in range(GONE_RETRIES + 1):
        try:
            return _ask(ctx, question, now, limit, thumbnails, strategy)
        except (RuntimeError, OSError) as e:
            if attempt == GONE_RETRIES or not gone_version(e):
                raise
            ctx.store.refresh(force=True)
    raise AssertionError("unreachable")  # pragma: no cover


# How many times a question is asked again when a table version it read was tidied away meanwhile.
GONE_RETRIES = 3


def _ask(ctx: RecallContext, question: str, now: datetime, limit: int, thumbnails: bool,
         strategy: RecallStrategy) -> Answer:
    pq = parse_question(question, now, ctx.tz)
    clash = _contradiction(pq.text)
    if clash is not None:
        return Answer(pq.text, pq.intent, f"Those times contradict each other ({clash}): which one did you mean?",
                      None, [], pq)
    from lifelog.speech.recall import parse_speech_question

    sq = parse_speech_question(pq.text)
    sign = _SIGN_SAY.match(pq.text)
    if sign is not None and _head_of(sign.group(1)) in _READABLE:
        return _sign_answer(ctx, pq, sign.group(1), now, limit, thumbnails, strategy)
    if sq is not None and sq.speaker and _head_of(sq.speaker) in _READABLE:
        return _sign_answer(ctx, pq, sq.speaker, now, limit, thumbnails, strategy)
    if sq is not None and sq.asks_who and not sq.speaker and ctx.store.count("utterances"):  # through the graph
        talked = who_talked(ctx, pq, parse_question(sq.topic, now, ctx.tz).subject or sq.topic if sq.topic else None,
                            now, limit, lambda t: _when(t.astimezone(ctx.tz), now.astimezone(ctx.tz)))
        if talked is not None:
            return _graph_answer(ctx, pq, talked, thumbnails)
    if sq is not None:
        return _speech_answer(ctx, pq, sq, now, limit)
    # Who and where through the knowledge graph (docs/graph.md); None: not a graph question.
    local_now = now.astimezone(ctx.tz)
    reply = graph_question(ctx, pq, now, limit, lambda t: _when(t.astimezone(ctx.tz), local_now))
    if reply is not None:
        return _graph_answer(ctx, pq, reply, thumbnails)
    asked = pq.subject
    pq = _reshape(pq, strategy)
    nobody = None  # "Rose": nobody has the name, so the question is asked of the pictures
    if pq.person:
        about_person = _person_answer(ctx, pq, now, limit, thumbnails, strategy)
        if about_person is not None:
            return about_person
        if pq.subject.strip().lower() == pq.person.strip().lower():
            nobody = pq.person
    if not pq.subject:
        if pq.window is None:
            return Answer(pq.text, pq.intent, "I could not tell what to look for in that question.", None, [], pq)
        return _window_answer(ctx, pq, now, limit, thumbnails)
    ctx.store.refresh()
    w = pq.window
    end = w.end if w is not None and w.end is not None else now
    start = w.start if w is not None else None
    scorer = Scorer(pq.subject, lexicon=strategy.lexicon)
    if not scorer.visible and strategy.lexicon:  # "rbin": a misspelt word the models would know
        fixed = _spelled(pq.subject)
        if fixed != pq.subject:
            from dataclasses import replace

            pq = replace(pq, subject=fixed)
            scorer = Scorer(fixed, lexicon=True)
    threshold = strategy.match_threshold
    mq = model_query(ctx.store, pq.subject)  # an installed image-text model in use; None with the offline default
    # A frame's label score is 2 × its naming mass: frames that cannot clear the threshold by
    # their labels are left in LanceDB (see retrieve.label_filter).
    min_mass = max(0.0, threshold / 2.0 - 1e-6)
    tables: list[pa.Table] = []
    score_parts: list[NDArray[np.float32]] = []
    matched_eps: set[str] = set()
    # "last"/"first": search the nearest stretch of time first and widen only if needed, so a
    # year of memories costs what a week does when the answer is recent.
    stages = _stages(ctx, pq.intent, start, end, strategy)
    if (len(stages) > 1 and mq is None and not strategy.probe_first
            and not _could_match(ctx, scorer, start, end, min_mass, strategy)):
        stages = []  # the earlier way, kept as the bench's baseline: nothing can match, skip the slices
    for i, (s_start, s_end) in enumerate(stages):
        if i == 1 and mq is None and strategy.probe_first and not matched_eps:
            # Nothing in the nearest day: one look over the rest of the window. When that holds
            # every frame that can match (few sightings, as for a thing seen now and then over a
            # year, or none), the remaining slices are not needed.
            rest = (start, stages[0][0]) if pq.intent == "last" else (stages[0][1], end)
            complete = _probe(ctx, scorer, rest[0], rest[1], min_mass, strategy)
            if complete is not None:
                if complete.num_rows:
                    fs = frame_scores(scorer, _vectors(complete.column("semantic")), complete.column("labels"),
                                      complete.column("label_scores"))
                    tables.append(complete)
                    score_parts.append(fs)
                break
        cand = candidate_frames(ctx.store, scorer.q, scorer.label_weight, s_start, s_end, min_mass=min_mass,
                                model=mq, strategy=strategy)
        t = cand.table
        if t.num_rows:
            fs = frame_scores(scorer, _vectors(t.column("semantic")), t.column("labels"), t.column("label_scores"))
            if mq is not None:
                fs = rescore_frames(scorer, t, fs)
            ok = pa.array(fs >= threshold)
            matched_eps.update(pc.unique(t.column("episode_id").filter(ok)).to_pylist())
            tables.append(t)
            score_parts.append(fs)
        if len(matched_eps) >= limit:
            break
    frames = pa.concat_tables(tables) if tables else None
    scored = _per_episode(frames, np.concatenate(score_parts) if score_parts else np.zeros(0, np.float32))
    # What was said: utterances matching the subject by exact words (blind index) or meaning.
    speech = _speech_episodes(ctx, pq.subject, start, end, limit, scorer.q)
    if speech:
        by_ep = {ep: (s, items) for s, ep, items in scored}
        for ep, sh in speech.items():  # audio-only episodes have no frames: items = []
            s, items = by_ep.get(ep, (0.0, []))
            by_ep[ep] = (max(s, sh.score), items)
        scored = [(s, ep, items) for ep, (s, items) in by_ep.items()]
    # Words seen written (signs, screens): OCR text through its blind index.
    ocr = _ocr_episodes(ctx, pq.subject, start, end)
    if scorer.text_query:  # "the sign saying double parking prohibited": the words alone too
        for ep, hit in _ocr_episodes(ctx, scorer.text_query, start, end).items():
            if hit.score > (ocr[ep].score if ep in ocr else 0.0):
                ocr[ep] = hit
    if scorer.wants_text:  # "did I see any signs?": whatever was read counts
        for ep, hit in _ocr_presence(ctx, start, end).items():
            ocr.setdefault(ep, hit)
    if ocr:
        by_ep = {ep: (s, items) for s, ep, items in scored}
        for ep, oh in ocr.items():
            s, items = by_ep.get(ep, (0.0, []))
            by_ep[ep] = (max(s, oh.score), items)
        scored = [(s, ep, items) for ep, (s, items) in by_ep.items()]
    # Things the object detector found with a box (bicycle, camera, dog, …; docs/recall.md).
    boxed = _detected_episodes(ctx, scorer, start, end)
    if boxed:
        by_ep = {ep: (s, items) for s, ep, items in scored}
        for ep, dh in boxed.items():
            s, items = by_ep.get(ep, (0.0, []))
            by_ep[ep] = (max(s, _detection_score(dh)), items)
        scored = [(s, ep, items) for ep, (s, items) in by_ep.items()]
    # The episodes' descriptions and the profile's places and routines (docs/profile.md).
    noted = {**_described_episodes(ctx, pq.subject, start, end), **_profile_episodes(ctx, pq, start, end)}
    if noted:
        by_ep = {ep: (s, items) for s, ep, items in scored}
        for ep, ns in noted.items():
            s, items = by_ep.get(ep, (0.0, []))
            by_ep[ep] = (max(s, ns), items)
        scored = [(s, ep, items) for ep, (s, items) in by_ep.items()]
    matching = [x for x in scored if x[0] >= threshold]
    ep_rows = _episode_rows(ctx, [e for _, e, _ in matching])
    # Only episodes whose row is written and whose file's import finished count or show.
    matching = [x for x in matching if x[1] in ep_rows]

    def start_of(ep_id: str) -> datetime:
        r = ep_rows.get(ep_id)
        return r["start"] if r else datetime.min.replace(tzinfo=UTC)

    if pq.intent == "last":
        matching.sort(key=lambda x: start_of(x[1]), reverse=True)
    elif pq.intent == "first":
        matching.sort(key=lambda x: start_of(x[1]))
    else:
        matching.sort(key=lambda x: -x[0])
    tz = ctx.tz  # one clock: the memory's zone, whatever the zone of ``now`` (docs/recall.md)
    hits: list[Hit] = []
    cues: dict[str, dict[str, float]] = {}  # episode → scene labels seen clearly there (best probability)
    kinds: dict[str, list[tuple[str, float]]] = {}  # episode → (frame id, probability) of kind labels there
    for score, ep_id, items in matching[:limit]:
        r = ep_rows.get(ep_id)
        if r is None:
            continue
        evidence = []
        read = ocr.get(ep_id)
        if read is not None:
            evidence.append(Evidence("ocr", read.time.astimezone(tz), read.text, None))
        box = boxed.get(ep_id)
        if box is not None:
            evidence.append(Evidence("object", box.t.astimezone(tz), f"{box.label} {box.score:.0%}",
                                     _frame_thumb(ctx, box.frame_id) if thumbnails else None))
        said = speech.get(ep_id)
        if said is not None:
            evidence += [
                Evidence("transcript", h.time.astimezone(tz), h.quote, None, speaker=h.utterance.speaker_id)
                for h in said.hits[:2]
            ]
        for _s, i, _m in items[:3]:
            assert frames is not None
            t = frames.column("t")[i].as_py().astimezone(tz)
            labs = frames.column("labels")[i].as_py() or []
            scs = frames.column("label_scores")[i].as_py() or []
            frame_matched = scorer.labels(labs, scs)[1]
            for lab, p in zip(labs, scs, strict=False):
                if lab in scorer.scene_labels and p >= SCENE_CUE_P:
                    cues.setdefault(ep_id, {})[lab] = max(p, cues.get(ep_id, {}).get(lab, 0.0))
                if lab in scorer.kind_labels:
                    kinds.setdefault(ep_id, []).append((frames.column("id")[i].as_py(), p))
            thumb = ctx.thumbnail_file(frames.column("thumb_id")[i].as_py()) if thumbnails else None
            text = ", ".join(f"{lab} {p:.0%}" for lab, p in list(zip(labs, scs, strict=False))[:3])
            evidence.append(Evidence("frame", t, text, thumb))
            for lab in frame_matched[:2]:
                evidence.append(Evidence("label", t, lab, None))
        hits.append(Hit(ep_id, r["start"].astimezone(tz), r["end"].astimezone(tz), score, evidence))
    count: int | None = None
    if pq.intent == "count":
        if pq.count_unit == "days":
            count = len({start_of(e).astimezone(tz).date() for _, e, _ in matching})
        else:
            count = len(matching)
    if hits and pq.intent != "count" and scorer.scene_labels:
        # A place or activity ("gym", "beach") claimed from one weak object label is a guess: it
        # needs several of the place's cues, a sign read there, words said or a note naming it.
        sure = [h for h in hits if _well_evidenced(h, scorer, cues.get(h.episode_id, {}))]
        if not sure:
            return Answer(pq.text, pq.intent, _unsure(pq, hits, now.astimezone(tz)), count, hits, pq)
        hits = sure + [h for h in hits if h not in sure]
    if hits and pq.intent != "count" and scorer.kind_labels and not scorer.scene_labels:
        # A kind ("musical instruments", "animals") claimed from one faint label, or from labels
        # seen only where a face fills the picture (a face taken for a ball, a bassoon), is a guess.
        faced = _face_filled(ctx, {f for v in kinds.values() for f, _ in v})
        sure = [h for h in hits if _kind_evidenced(h, scorer, kinds.get(h.episode_id, []), faced)]
        if not sure:
            cue = next((e.text for e in hits[0].evidence if e.kind == "label"), None)
            closest = _when(hits[0].start, now.astimezone(tz))
            unsure = (f"I'm not sure I saw {_as_asked(pq)}: the closest is {closest}"
                      + (f" (it looked like a {cue}), and that rests on one weak clue." if cue else "."))
            if nobody is not None:
                unsure = f"I don't know anyone called {nobody}, so I looked for it in the pictures. {unsure}"
            return Answer(pq.text, pq.intent, unsure, count, hits, pq)
        hits = sure + [h for h in hits if h not in sure]
    sentence = _sentence(pq, hits, count, now.astimezone(tz), total=len(matching))
    if hits and pq.intent != "count" and hits[0].score < UNSURE_SCORE and all(
            e.kind in ("frame", "label") for e in hits[0].evidence):
        cue = next((e.text for e in hits[0].evidence if e.kind == "label"), None)
        sentence = (f"I'm not sure I saw {_as_asked(pq)}: the closest is {_when(hits[0].start, now.astimezone(tz))}"
                    + (f" (it looked like a {cue})." if cue else "."))
    if not hits and pq.intent != "count":
        sentence = _nothing(ctx, pq, scorer, sentence, speech_or_text=bool(speech or ocr or noted))
    elif not asked and pq.subject in ("food", "drink") and hits:  # "what did I eat/drink?"
        seen = list(dict.fromkeys(e.text for e in hits[0].evidence if e.kind == "label"))[:2]
        what = f" ({', '.join(seen)})" if seen else ""
        verb = "You had a drink" if pq.subject == "drink" else "You ate"
        sentence = re.sub(r"^(?:Yes, )?You saw \w+ ", f"{verb}{what} ", sentence)
    if nobody is not None:
        sentence = f"I don't know anyone called {nobody}, so I looked for it in the pictures. {sentence}"
    return Answer(pq.text, pq.intent, sentence, count, hits, pq)


UNSURE_SCORE = 0.35  # a top hit below this, seen only in pictures, is offered as "I'm not sure"
SCENE_CUES = 2  # distinct clear labels of a place seen in an episode before it is claimed on them alone
SCENE_CUE_P = 0.10  # a label's probability in a frame for it to count as a clear cue
SCENE_ONE_CUE_P = 0.5  # … or one label this clear


def _well_evidenced(hit: Hit, scorer: Scorer, cues: dict[str, float]) -> bool:
    """Whether a hit for a place or activity rests on more than one weak clue: a sign read or
    words said there, a note naming it, a label naming the subject itself, or several of the
    place's labels seen clearly (one faint "parallel bars" is no gym)."""
    if any(e.kind in ("ocr", "transcript") for e in hit.evidence):
        return True
    if not any(e.kind == "frame" for e in hit.evidence):
        return True  # a note or the profile named it
    labels = {e.text for e in hit.evidence if e.kind == "label"}
    if labels - scorer.scene_labels:
        return True
    return len(cues) >= SCENE_CUES or max(cues.values(), default=0.0) >= SCENE_ONE_CUE_P


KIND_ONE_P = 0.3  # a kind's label this clear in one frame (no face filling it) is enough …
KIND_CUE_P = 0.1  # … or this clear in two of the episode's best frames
FACE_SURE = 0.8  # a face detection this confident is a face (cats' faces score ~0.5)
FACE_FILLS = 0.1  # … and covering this share of the frame leaves its labels in doubt


def _kind_evidenced(hit: Hit, scorer: Scorer, seen: list[tuple[str, float]], faced: set[str]) -> bool:
    """Whether a hit for a kind rests on more than one weak clue: a sign read or words said, a
    note, a label naming the subject by its own words, or the kind's labels seen clearly in frames
    that no face fills (a classifier calls faces "ping-pong ball" and "bassoon")."""
    if any(e.kind in ("ocr", "transcript", "object") for e in hit.evidence):
        return True  # read, said, or found with a box by the object detector
    if not any(e.kind == "frame" for e in hit.evidence):
        return True  # a note or the profile named it
    if {e.text for e in hit.evidence if e.kind == "label"} - scorer.kind_labels:
        return True
    clear = [(f, p) for f, p in seen if f not in faced]
    return (max((p for _, p in clear), default=0.0) >= KIND_ONE_P
            or len({f for f, p in clear if p >= KIND_CUE_P}) >= 2)


def _face_filled(ctx: RecallContext, frame_ids: set[str]) -> set[str]:
    """The frames among ``frame_ids`` that a face (a sure detection) fills, from the stored boxes."""
    from lifelog.store.sql import sql_in

    if not frame_ids or ctx.store.count("faces") == 0:
        return set()
    rows = ctx.store.rows("faces", sql_in("frame_id", sorted(frame_ids)),
                          columns=["frame_id", "box", "det_score"]).to_pylist()
    return {r["frame_id"] for r in rows
            if (r["det_score"] or 0.0) >= FACE_SURE and r["box"] and r["box"][2] * r["box"][3] >= FACE_FILLS}


def _unsure(pq: ParsedQuestion, hits: list[Hit], now: datetime) -> str:
    """"I'm not sure" with the best candidates and what they looked like."""
    shown = []
    for h in hits[:2]:
        cue = next((e.text for e in h.evidence if e.kind == "label"), None)
        shown.append(f"{_when(h.start, now)}" + (f" (I saw a {cue})" if cue else ""))
    return (f"I'm not sure about {_as_asked(pq) or 'that place'}: the closest I found is "
            + " and ".join(shown) + ", and that rests on one weak clue.")


def _coverage(ctx: RecallContext) -> str | None:
    """What the memory holds, as a person says it: "14–15 May 2024"."""
    first, last = _span(ctx)
    if first is None or last is None:
        return None
    tz = ctx.tz
    a, b = first.astimezone(tz).date(), last.astimezone(tz).date()
    if a == b:
        return f"{a.day} {a:%B %Y}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}\u2013{b.day} {b:%B %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%B}\u2013{b.day} {b:%B %Y}"
    return f"{a.day} {a:%B %Y}\u2013{b.day} {b:%B %Y}"


def _outside_memory(ctx: RecallContext, pq: ParsedQuestion) -> str | None:
    """When the question's period holds no memory at all: what the memory covers instead."""
    w = pq.window
    if w is None:
        return None
    first, last = _span(ctx)
    if first is None or last is None:
        return "Your memory is empty so far."
    cover = _coverage(ctx)
    if w.start is not None and w.start >= last:
        return f"Your memory has {cover}; nothing after that."
    if w.end is not None and w.end <= first:
        return f"Your memory has {cover}; nothing before that."
    return None


def _nothing(ctx: RecallContext, pq: ParsedQuestion, scorer: Scorer, sentence: str, speech_or_text: bool) -> str:
    """Nothing matched: say why, honestly. The period may hold no memory at all, or the subject
    may be something the models cannot see (no class, place or kind names it)."""
    outside = _outside_memory(ctx, pq)
    if outside is not None:
        return f"Nothing was recorded {pq.window.phrase if pq.window else ''}. {outside}".replace("  ", " ")
    place = place_asked(pq)
    if place is not None and not scorer.visible and not speech_or_text:  # "when was I last at Grandma's?"
        return f"I don't know a place called {place}."
    if not scorer.visible and not speech_or_text:
        span = f" {pq.window.phrase}" if pq.window and pq.window.phrase else ""
        return (f"I found no {pq.subject}{span}: it is nothing I can recognise in pictures, and nothing "
                f"read or said in your memory mentions it.")
    return sentence


STAGE_DAYS = (1, 7, 30, 90, 365)

_EAT = re.compile(r"\b(?:eat|ate|eaten|eating|food|meals?|lunch|dinner|breakfast)\b", re.IGNORECASE)
_DRINK = re.compile(r"\b(?:drink|drank|drunk|drinking|drinks)\b", re.IGNORECASE)
_ABOUT = re.compile(r"^(?:anything|something|everything|things?|stuff)\s+(?:about|with|of|on|to do with)\s+",
                    re.IGNORECASE)
_GOING = re.compile(r"^(?:ride|rode|riding|walk|walked|walking|go|went|going|drive|drove|driving|cycle|cycled|"
                    r"pass|passed|run|ran)\s+(?:past|by|to|through|into|around|along|over|on)?\s*", re.IGNORECASE)
_ANY = re.compile(r"^(?:any|some|anything like|a few)\s+", re.IGNORECASE)
_DAY_WORDS = re.compile(r"\b(today|tonight|yesterday|this morning|this afternoon|this evening)\b", re.IGNORECASE)
_FAR_WORDS = re.compile(r"\b(last year|a year ago|last month|(?:in|during) (?:19|20)\d\d)\b", re.IGNORECASE)


_READABLE = TEXT_BEARERS | {"screen", "board", "label", "notice", "banner", "plaque", "menu"}
_SIGN_SAY = re.compile(r"^\s*what\s+(?:did|does|do|was)\s+(?:the|that|a|this)\s+(.+?)\s+"
                       r"(?:say|said|read|says|written|show)\b", re.IGNORECASE)


def _head_of(phrase: str) -> str:
    h = head_noun(phrase)
    return h[:-1] if h.endswith("s") and not h.endswith("ss") else h


def _sign_answer(ctx: RecallContext, pq: ParsedQuestion, thing: str, now: datetime, limit: int, thumbnails: bool,
                 strategy: RecallStrategy) -> Answer:
    """"what did the sign at the arcade say?": the words read (OCR) on the thing asked about, not
    a person called "the sign". The episodes where the thing was seen, those where text was read
    first; the sentence quotes what was read."""
    from dataclasses import replace

    thing = re.sub(r"^(?:the|a|an|that|this)\s+", "", thing.strip(), flags=re.IGNORECASE)
    w = pq.window
    end = w.end if w is not None and w.end is not None else now
    start = w.start if w is not None else None
    chunks = noun_chunks(thing)
    if len(chunks) > 1 and chunks[1][1] in TEXT_LINKS:  # "the sign about parking": its words, not a place
        return _sign_about(ctx, pq, thing, " ".join(c for c, _ in chunks[1:]), start, end, now, limit)
    seen = ask(ctx, thing, now, limit=limit, thumbnails=thumbnails, strategy=strategy)
    read = _ocr_presence(ctx, start, end)
    hits = [h for h in seen.hits if (start is None or h.end >= start) and h.start < end]
    if len(chunks) > 1:  # "the sign at the arcade": where it was says which sign
        place = " ".join(c for c, _ in chunks[1:])
        there = ask(ctx, place, now, limit=limit, thumbnails=thumbnails, strategy=strategy).hits
        there = [h for h in there if h.episode_id in read and (start is None or h.end >= start) and h.start < end]
        if there:
            hits = there + [h for h in hits if h.episode_id not in {x.episode_id for x in there}]
    for i, h in enumerate(hits):
        if h.episode_id in read and not any(e.kind == "ocr" for e in h.evidence):
            o = read[h.episode_id]
            hits[i] = replace(h, evidence=[Evidence("ocr", o.time.astimezone(ctx.tz), o.text, None), *h.evidence])
    hits.sort(key=lambda h: not any(e.kind == "ocr" for e in h.evidence))  # stable: the place's order kept
    spq = replace(pq, subject=thing, person=None, intent="what")
    local_now = now.astimezone(ctx.tz)
    if not hits:
        return Answer(pq.text, "what", f"I found no {thing} in your memory.", None, [], spq)
    top = hits[0]
    when = _when(top.start, local_now)
    if not any(e.kind == "ocr" for e in top.evidence):
        return Answer(pq.text, "what", f"I saw the {thing} {when}, but I could not read what it said.", None,
                      hits, spq)
    if len(chunks) > 1 and not there:
        # Where the sign was is nothing the pictures show: offer what was read, not a guess.
        read_hits = [h for h in hits if h.episode_id in read][:3]
        shown = "; ".join(f'"{_episode_text(ctx, h.episode_id)}" ({_when(h.start, local_now)})' for h in read_hits)
        place = " ".join(c for c, _ in chunks[1:])
        return Answer(pq.text, "what", f"I can't tell which sign was at the {place}; signs I read: {shown}.",
                      None, read_hits, spq)
    return Answer(pq.text, "what", f'The {thing} read "{_episode_text(ctx, top.episode_id)}" ({when}).', None,
                  hits, spq)


def _sign_about(ctx: RecallContext, pq: ParsedQuestion, thing: str, words: str, start: datetime | None,
                end: datetime, now: datetime, limit: int) -> Answer:
    """"what did the sign about parking say?": the episodes where lines with those words were read
    (OCR through its blind index), best read first; the sentence quotes the best one."""
    from dataclasses import replace

    spq = replace(pq, subject=thing, person=None, intent="what")
    found = _ocr_episodes(ctx, words, start, end)
    rows = _episode_rows(ctx, list(found))
    tz, local_now = ctx.tz, now.astimezone(ctx.tz)
    order = sorted((ep for ep in found if ep in rows), key=lambda ep: (-found[ep].score, rows[ep]["start"]))
    hits = [Hit(ep, rows[ep]["start"].astimezone(tz), rows[ep]["end"].astimezone(tz), found[ep].score,
                [Evidence("ocr", found[ep].time.astimezone(tz), found[ep].text, None)]) for ep in order[:limit]]
    span = f" {pq.window.phrase}" if pq.window is not None and pq.window.phrase else ""
    if not hits:
        return Answer(pq.text, "what", f"I found no {_head_of(thing)} about {words}{span}.", None, [], spq)
    top = hits[0]
    sentence = f'The {thing} read "{_episode_text(ctx, top.episode_id)}" ({_when(top.start, local_now)})'
    if len(hits) > 1:
        more = ", ".join(_when(h.start, local_now) for h in hits[1:3])
        sentence += f"; I read {words} on {len(hits) - 1} more ({more})"
    return Answer(pq.text, "what", sentence + ".", None, hits, spq)


def _episode_text(ctx: RecallContext, episode_id: str, most: int = 4) -> str:
    """What the OCR read in an episode: its distinct lines, most confident first, a few."""
    from lifelog.ocr.search import load_lines
    from lifelog.store.sql import sql_in

    rows = ctx.store.rows("ocr", sql_in("episode_id", [episode_id]), columns=["id"]).to_pylist()
    lines = sorted(load_lines(ctx.store, ctx.vault, [r["id"] for r in rows]).values(), key=lambda x: -x[1])
    out: list[str] = []
    for text, _ in lines:
        t = " ".join(text.split())
        if len(t) > 3 and t.lower() not in {o.lower() for o in out}:
            out.append(t)
    return " / ".join(out[:most])


def _contradiction(text: str) -> str | None:
    """"yesterday last year": two times that cannot both hold. The two phrases, or None."""
    a, b = _DAY_WORDS.search(text), _FAR_WORDS.search(text)
    if a and b:
        return f"{a.group(1)}, {b.group(1)}"
    return None


def _reshape(pq: ParsedQuestion, strategy: RecallStrategy) -> ParsedQuestion:
    """Question forms the parser leaves raw: "what did I eat/drink" (food, drinks), "anything
    about parking" (parking), and misspelt words ("rbin" → "robin") put right against the
    vocabulary the models know."""
    from dataclasses import replace

    subject = pq.subject
    if not subject and pq.quoted:  # "where did I see 'no parking'?": the words read or said
        subject = pq.quoted
    elif not subject and _DRINK.search(pq.text):
        subject = "drink"
    elif not subject and _EAT.search(pq.text):
        subject = "food"
    subject = _ABOUT.sub("", subject).strip()
    subject = _GOING.sub("", subject).strip() or subject
    subject = re.sub(r"^(?:a|an|the)\s+", "", subject, flags=re.IGNORECASE) if subject != pq.subject else subject
    subject = _ANY.sub("", subject).strip() or subject
    intent = pq.intent
    if subject != pq.subject and not pq.subject and intent == "what":
        intent = "list"
    if subject == pq.subject and intent == pq.intent:
        return pq
    return replace(pq, subject=subject, intent=intent)


def _spelled(subject: str) -> str:
    """Each word of ``subject`` that no label, lexicon or WordNet word has, replaced by the
    closest one that does (difflib ratio ≥ 0.8); other words as they are. A real English word
    (any WordNet lemma, :func:`scenes.english_words`) is never "corrected": "photographer" is not
    a misspelt "photographic"."""
    import difflib

    from lifelog.recall.scenes import is_english

    vocab = _vocabulary()
    if not vocab:
        return subject
    def known(w: str) -> bool:
        low = w.lower()
        return (len(low) < 4 or not (low.isascii() and low.isalpha()) or low in vocab or low.rstrip("s") in vocab
                or w[:1].isupper() or low in FUNCTION_WORDS or is_english(low))

    words = subject.split()
    unknown = [w for w in words if not known(w)]
    if len(unknown) != 1 or not subject.isascii():  # a typo is one word; another language is not put "right"
        return subject
    # Everyday words (the lexicon's, written by hand) first, then every label and WordNet word:
    # "catt" is "cat", not "catta" of Lemur catta.
    near = (difflib.get_close_matches(unknown[0].lower(), _VOCAB[1], n=1, cutoff=0.75)
            or difflib.get_close_matches(unknown[0].lower(), vocab, n=1, cutoff=0.8))
    return " ".join(near[0] if w is unknown[0] and near else w for w in words)


_VOCAB: list[frozenset[str]] = []  # [every word the models know, the lexicon's everyday words]


def _vocabulary() -> frozenset[str]:
    if not _VOCAB:
        from lifelog.encoders import get_visual_encoder
        from lifelog.recall.scenes import get_lexicon

        names = get_visual_encoder().label_names
        words = {w for n in names for w in re.findall(r"[a-z]+", n.lower())}
        lex = get_lexicon(names)
        everyday: set[str] = set()
        if lex is not None:
            words |= {w for k in (*lex.by_word, *lex.kinds) for w in k.split()}
            everyday = {w for k in lex.by_word for w in k.split()}
        _VOCAB.extend([frozenset(words), frozenset(everyday)])
    return _VOCAB[0]


def _graph_answer(ctx: RecallContext, pq: ParsedQuestion, reply: GraphReply, thumbnails: bool) -> Answer:
    """A graph reply (lifelog.recall.who_where) as an answer: its moments are the hits, each with
    the face, place or object it shows as evidence; people not named yet are offered to name."""
    tz = ctx.tz
    kinds: dict[str, EvidenceKind] = {"face": "face", "place": "place", "object": "object", "said": "transcript"}
    hits = []
    for m in reply.moments:
        thumb = ctx.thumbnail_file(m.thumb_id) if thumbnails and m.thumb_id else None
        hits.append(Hit(m.episode_id, m.start.astimezone(tz), m.end.astimezone(tz), 1.0,
                        [Evidence(kinds[m.kind], m.start.astimezone(tz), m.text, thumb)]))
    sentence = reply.sentence
    if not hits:
        outside = _outside_memory(ctx, pq)
        sentence += f" {outside}" if outside else ""
    count = len(hits) if reply.intent == "count" else None
    return Answer(pq.text, reply.intent, sentence, count, hits, pq,
                  _people_to_name(ctx, reply.to_name, None, thumbnails))


DETECT_SURE = 0.4  # an object detection this confident is a sighting (the model scores clear things 0.4-0.6)
DETECT_FULL = 0.6  # … and this confident counts in full (MediaPipe's own floor for the model)


def _detected_episodes(ctx: RecallContext, scorer: Scorer, start: datetime | None, end: datetime
                       ) -> dict[str, DetectionHit]:
    """Episodes where the object detector found something the subject names (its best box each)."""
    weights = scorer.detector_weight
    if not weights:
        return {}
    from lifelog.objects.detect import detection_hits

    return detection_hits(ctx.store, weights, window_where(ctx.store, start, end), DETECT_SURE)


def _detection_score(hit: DetectionHit) -> float:
    return hit.weight * min(1.0, hit.score / DETECT_FULL)


def _frame_thumb(ctx: RecallContext, frame_id: str) -> str | None:
    from lifelog.store.sql import sql_str

    rows = ctx.store.rows("frames", f"id = {sql_str(frame_id)}", columns=["thumb_id"]).to_pylist()
    return ctx.thumbnail_file(rows[0]["thumb_id"]) if rows else None


def _ocr_episodes(ctx: RecallContext, subject: str, start: datetime | None, end: datetime) -> dict[str, OcrHit]:
    """Episodes where words of ``subject`` were read on signs or screens (empty without OCR rows)."""
    if ctx.store.count("ocr") == 0:
        return {}
    from lifelog.ocr.search import ocr_episode_hits

    return {ep: OcrHit(score, text, t) for ep, score, text, t in ocr_episode_hits(ctx.store, ctx.vault, subject,
                                                                                   (start, end))}


OCR_PRESENCE = 0.6  # score of an episode where some text was read, for "signs" and "writing"
DESCRIPTION_SCORE = 0.5  # × the share of the subject's words an episode's description holds
PROFILE_SCORE = 1.0  # an episode the profile names for "my gym", "my usual bus"
_MINE = re.compile(r"\b(?:my|our)\s+(?:usual\s+|regular\s+)?", re.IGNORECASE)


def _described_episodes(ctx: RecallContext, subject: str, start: datetime | None, end: datetime
                        ) -> dict[str, float]:
    """Episodes whose stored description (lifelog.store.notes) holds the subject's words."""
    from lifelog.store.notes import search_descriptions

    found = search_descriptions(ctx.store, ctx.vault, subject, (start, end))
    return {ep: DESCRIPTION_SCORE * share for ep, share in found.items()}


def _profile_episodes(ctx: RecallContext, pq: ParsedQuestion, start: datetime | None, end: datetime
                      ) -> dict[str, float]:
    """"my gym", "my usual bus": the episodes of the profile's place or routine lines for that word
    (the user's own line for it included), inside the question's window."""
    subject = re.sub(r"^(?:usual|regular)\s+", "", pq.subject.strip().lower())
    if not subject or not (_MINE.search(pq.text) or subject != pq.subject.strip().lower()):
        return {}
    from lifelog.store.notes import load_profile

    if ctx.store.count("notes", "id = 'profile'") == 0:
        return {}
    word = subject.split()[-1]
    keys = {f"place:{subject}", f"place:{word}"}
    ids: set[str] = set()
    for ln in load_profile(ctx.store, ctx.vault).lines:
        if ln.block != "Places and routines" or not ln.key:
            continue
        k = ln.key
        if k in keys or k.startswith((f"routine:{subject}-", f"routine:{word}-")):
            ids.update(ln.episodes)
    if not ids:
        return {}
    rows = _episode_rows(ctx, sorted(ids))
    lo = start or datetime.min.replace(tzinfo=UTC)
    return {e: PROFILE_SCORE for e, r in rows.items() if r["end"] > lo and r["start"] < end}


def _ocr_presence(ctx: RecallContext, start: datetime | None, end: datetime) -> dict[str, OcrHit]:
    """Episodes in the window where the OCR read any text: OCR_PRESENCE × the best line's confidence."""
    if ctx.store.count("ocr") == 0:
        return {}
    from lifelog.ocr.search import load_lines

    where = window_where(ctx.store, start, end)
    rows = ctx.store.rows("ocr", where, columns=["id", "episode_id", "t", "score"]).to_pylist()
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        ep = r["episode_id"]
        if ep and (ep not in best or (r["score"] or 0.0) > (best[ep]["score"] or 0.0)):
            best[ep] = r
    texts = load_lines(ctx.store, ctx.vault, [r["id"] for r in best.values()])
    return {ep: OcrHit(OCR_PRESENCE * float(r["score"] or 0.0), texts.get(r["id"], ("", 0.0))[0], r["t"])
            for ep, r in best.items()}


def _speech_episodes(
    ctx: RecallContext, subject: str, start: datetime | None, end: datetime, limit: int, qvec: NDArray[Any]
) -> dict[str, SpeechEpisodeHit]:
    """Episodes where something matching ``subject`` was said (empty when nothing was transcribed)."""
    if ctx.store.count("utterances") == 0:
        return {}
    from lifelog.speech.recall import episode_hits

    hits = episode_hits(ctx.store, ctx.vault, subject, (start, end), limit=limit * 4, text_vector=qvec)
    return {e.episode_id: e for e in hits}


def _vectors(col: pa.ChunkedArray) -> NDArray[np.float32]:
    """Fixed-size-list vectors as a matrix; rows without a vector (label-path hits) are zeros."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    dim = arr.type.list_size
    flat = arr.flatten().to_numpy(zero_copy_only=False) if arr.null_count == 0 else None
    if flat is not None:
        return np.asarray(flat, dtype=np.float32).reshape(len(arr), dim)
    out = np.zeros((len(arr), dim), dtype=np.float32)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if valid.any():
        out[valid] = np.asarray(arr.filter(arr.is_valid()).flatten().to_numpy(zero_copy_only=False),
                                dtype=np.float32).reshape(-1, dim)
    return out


def _could_match(ctx: RecallContext, scorer: Scorer, start: datetime | None, end: datetime, min_mass: float,
                 strategy: RecallStrategy) -> bool:
    """Any labelled sighting, or any near-enough vector, in the whole window? (without the probe)"""
    lab = label_filter(scorer.label_weight, min_mass, strategy)
    if lab is not None and ctx.store.table("frames").count_rows(f"({window_where(ctx.store, start, end)}) AND {lab}"):
        return True
    probe = candidate_frames(ctx.store, scorer.q, [], start, end, k=20, strategy=strategy).table
    fs = frame_scores(scorer, _vectors(probe.column("semantic")), probe.column("labels"), probe.column("label_scores"))
    return bool((fs >= strategy.match_threshold).any())


# The whole-window probe (RecallStrategy.probe_first; bench/query.py --compare switches it off).
PROBE_K = 50  # nearest vectors looked at over the whole window before searching slice by slice
PROBE_LABEL_CAP = 1000  # label sightings read by the probe; more means "go slice by slice"


def _probe(ctx: RecallContext, scorer: Scorer, start: datetime | None, end: datetime | None, min_mass: float,
           strategy: RecallStrategy) -> pa.Table | None:
    """Every frame of the window that can match, when one cheap look finds them all; else None.

    The vector side is complete when fewer than PROBE_K of the nearest frames clear the threshold
    (anything farther scores less); the label side when its sightings are at most PROBE_LABEL_CAP.
    An empty table means nothing anywhere in the window can match.
    """
    vec = candidate_frames(ctx.store, scorer.q, [], start, end, k=PROBE_K, strategy=strategy).table
    fs = frame_scores(scorer, _vectors(vec.column("semantic")), vec.column("labels"), vec.column("label_scores"))
    ok = fs >= strategy.match_threshold
    if int(ok.sum()) >= PROBE_K:
        return None  # seen often: the slices will stop early
    lab, complete = label_rows(ctx.store, scorer.label_weight, start, end, min_mass, cap=PROBE_LABEL_CAP,
                               strategy=strategy)
    if not complete:
        return None
    return merge_candidates(vec.filter(pa.array(ok)), lab)


Scored = list[tuple[float, str, list[tuple[float, int, list[str]]]]]


def _per_episode(frames: pa.Table | None, fs: NDArray[np.float32]) -> Scored:
    """(best score, episode id, its three best frames as (score, row, [])) for every episode in ``frames``."""
    if frames is None or frames.num_rows == 0:
        return []
    enc = pc.dictionary_encode(frames.column("episode_id").combine_chunks())
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = enc.dictionary.to_pylist()
    order = np.lexsort((-fs, codes))  # by episode, best frame first
    sc = codes[order]
    starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]])
    ends = np.r_[starts[1:], len(order)]
    out: Scored = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        top = order[a:min(b, a + 3)].tolist()
        out.append((float(fs[top[0]]), str(names[sc[a]]), [(float(fs[i]), int(i), []) for i in top]))
    return out


_SPAN: weakref.WeakKeyDictionary[Any, tuple[Any, datetime | None, datetime | None]] = weakref.WeakKeyDictionary()


def _span(ctx: RecallContext) -> tuple[datetime | None, datetime | None]:
    """(start of the oldest episode, end of the newest), remembered per store until the episodes
    table changes: reading every episode's times costs ~10 ms at a year of memories, its table
    version is a cheap look-up."""
    version: Any = None
    with contextlib.suppress(Exception):  # no version to key on: read it every time
        version = ctx.store.table("episodes").version
    cached = _SPAN.get(ctx.store) if version is not None else None
    if cached is not None and cached[0] == version:
        return cached[1], cached[2]
    rows = ctx.store.rows("episodes", None, columns=["start", "end"])
    first: datetime | None = pc.min(rows.column("start")).as_py() if rows.num_rows else None
    last: datetime | None = pc.max(rows.column("end")).as_py() if rows.num_rows else None
    if version is not None:
        with contextlib.suppress(TypeError):  # a store that cannot be weakly referenced: not remembered
            _SPAN[ctx.store] = (version, first, last)
    return first, last


def _stages(
    ctx: RecallContext, intent: Intent, start: datetime | None, end: datetime, strategy: RecallStrategy
) -> list[tuple[datetime | None, datetime]]:
    """Time slices to search, nearest first for "last", earliest first for "first"."""
    if intent == "last":
        out: list[tuple[datetime | None, datetime]] = []
        oldest, newest = _span(ctx)
        floor = max(x for x in (start, oldest) if x is not None) if (start or oldest) else None
        # Slices are counted back from the newest memory in the window, not from the clock: after
        # a few days without recordings the "last day" slice still holds the last day recorded.
        # Only the slice boundaries move: the first slice still reaches ``end``, so nothing is skipped.
        # (RecallStrategy.anchor_at_newest: bench/query.py --compare counts back from now instead.)
        anchor = min(end, newest) if strategy.anchor_at_newest and newest is not None else end
        hi = end
        for days in STAGE_DAYS:
            lo = anchor - timedelta(days=days)
            if floor is not None and lo <= floor:
                out.append((start, hi))
                return out
            out.append((lo, hi))
            hi = lo
        out.append((start, hi))
        return out
    if intent == "first":
        first = start or _span(ctx)[0]
        if first is None:
            return [(start, end)]
        out = []
        lo = first
        for days in STAGE_DAYS:
            hi = first + timedelta(days=days)
            if hi >= end:
                out.append((lo, end))
                return out
            out.append((lo, hi))
            lo = hi
        out.append((lo, end))
        return out
    return [(start, end)]


def _person_names(ctx: RecallContext) -> list[tuple[str, str]]:
    """(person id, name) for every named person."""
    try:
        from lifelog.people.service import People

        return People(ctx.store, ctx.vault).names()
    except Exception:  # no people yet (the faces stage is optional)
        return []


def _person_answer(ctx: RecallContext, pq: ParsedQuestion, now: datetime, limit: int, thumbnails: bool,
                   strategy: RecallStrategy = DEFAULT_STRATEGY) -> Answer | None:
    """"when did I last see Sam?", "how many times did I see Sam this week?": the episodes in which
    a person called Sam was seen (their faces), through the same intents and sentences. ``None``
    when nobody has that name and the question is about more than the name (then "Sam" may be a
    thing, and the visual search answers)."""
    from lifelog.people.service import People

    w = pq.window
    end = w.end if w is not None and w.end is not None else now
    start = w.start if w is not None else None
    people, seen = People(ctx.store, ctx.vault).sightings_of(pq.person or "", start, end)
    if not people:
        if pq.subject.strip().lower() != (pq.person or "").strip().lower():
            return None
        if _is_a_thing(pq.subject, strategy):
            return None  # "Rose", "Bill": nobody has the name, but the word is a thing the models see
        sentence = f"I don't know anyone called {pq.person} yet."
        return Answer(pq.text, pq.intent, sentence, 0 if pq.intent == "count" else None, [], pq,
                      _unnamed_people(ctx, start, end, pq.person, thumbnails))
    tz = ctx.tz
    ep_rows = _episode_rows(ctx, [s.episode_id for s in seen])
    seen = [s for s in seen if s.episode_id in ep_rows]  # latest first
    if pq.intent == "first":
        seen.sort(key=lambda s: s.first)
    names = {p.id: p.name or pq.person or "" for p in people}
    hits = []
    for s in seen[:limit]:
        r = ep_rows[s.episode_id]
        text = f"{names.get(s.person_id, pq.person)}: {s.faces} face{'s' if s.faces != 1 else ''}"
        ev = Evidence("face", s.last.astimezone(tz), text, ctx.thumbnail_file(s.best_crop) if thumbnails else None)
        hits.append(Hit(s.episode_id, r["start"].astimezone(tz), r["end"].astimezone(tz), 1.0, [ev]))
    count: int | None = None
    if pq.intent == "count":
        days = {ep_rows[s.episode_id]["start"].astimezone(tz).date() for s in seen}
        count = len(days) if pq.count_unit == "days" else len(seen)
    return Answer(pq.text, pq.intent, _sentence(pq, hits, count, now.astimezone(tz)), count, hits, pq)


def _is_a_thing(word: str, strategy: RecallStrategy) -> bool:
    """Whether a name nobody has is also a word for something seen ("Rose" a flower, "Bill" a
    bird's bill): then the question is asked of the pictures."""
    if not strategy.lexicon:
        return False
    return Scorer(word.lower(), lexicon=True).visible


UNNAMED_SHOWN = 4  # people not named yet offered with "I don't know anyone called Sam yet"


def _people_to_name(ctx: RecallContext, ids: list[str], suggested: str | None, thumbnails: bool
                    ) -> list[PersonToName]:
    try:
        from lifelog.people.service import People

        brief = People(ctx.store, ctx.vault).brief(ids)  # one read for all, not each one's stats
        if any(pid not in brief for pid in ids):
            return []  # a person gone meanwhile (merged, forgotten): nobody to offer
        out = []
        for pid in ids:
            p = brief[pid]
            if not p.name:
                thumb = ctx.thumbnail_file(p.thumbnail) if thumbnails else None
                out.append(PersonToName(p.id, p.thumbnail, thumb, suggested))
        return out
    except Exception:  # a person gone meanwhile (merged, forgotten): nobody to offer
        return []


def _unnamed_people(ctx: RecallContext, start: datetime | None, end: datetime, name: str | None,
                    thumbnails: bool) -> list[PersonToName]:
    """The people not named yet seen in [start, end] (latest first, a few): one of them may be
    the person the question named."""
    try:
        from lifelog.people.service import People

        unnamed = [p for p in People(ctx.store, ctx.vault).list() if not p.name and p.last_seen is not None
                   and (start is None or p.last_seen >= start) and (p.first_seen is None or p.first_seen <= end)]
    except Exception:  # no people tables yet (the faces stage is optional)
        return []
    return [PersonToName(p.id, p.thumbnail, ctx.thumbnail_file(p.thumbnail) if thumbnails else None, name)
            for p in unnamed[:UNNAMED_SHOWN]]


def _speech_answer(ctx: RecallContext, pq: ParsedQuestion, sq: SpeechQuestion, now: datetime, limit: int
                   ) -> Answer:
    """"what did Sam say about the trip?", "who mentioned the dentist?", "did anyone say …"."""
    from lifelog.speech.recall import episode_hits, find_person

    tz = ctx.tz
    w = pq.window
    window = (w.start if w else None, w.end if w and w.end else now)
    names = _person_names(ctx)
    speaker_id = None
    # "when did I hear someone talk about …": the speaker part names nobody in particular.
    vague = {"someone", "anyone", "somebody", "anybody", "people", "they", "we", "i", "me", "you"}
    if sq.speaker and vague & set(sq.speaker.lower().split()):
        sq = type(sq)(None, sq.topic, sq.asks_who)
    if sq.speaker:
        speaker_id = find_person(names, sq.speaker)
        if speaker_id is None:
            return Answer(pq.text, "what", f"I don't know anyone called {sq.speaker} yet.", None, [], pq)
    topic = None
    if sq.topic:
        topic = parse_question(sq.topic, now, ctx.tz).subject or sq.topic
    if ctx.store.count("utterances") == 0:
        return Answer(pq.text, "what", "Nothing said has been transcribed yet.", None, [], pq)
    eps = episode_hits(ctx.store, ctx.vault, topic, window, speaker_id=speaker_id, limit=limit)
    if pq.intent == "last":
        eps.sort(key=lambda e: e.start, reverse=True)
    elif pq.intent == "first":
        eps.sort(key=lambda e: e.start)
    by_id = dict(names)

    def name(pid: str | None) -> str:
        if not pid:
            return "someone (speaker unknown)"
        return by_id.get(pid) or "someone you have not named yet"

    hits = [
        Hit(e.episode_id, e.start.astimezone(tz), e.end.astimezone(tz), e.score,
            [Evidence("transcript", h.time.astimezone(tz), h.quote, None, speaker=h.utterance.speaker_id)
             for h in e.hits[:3]])
        for e in eps
    ]
    if not hits:
        about = f" about {topic}" if topic else ""
        who = sq.speaker or "anyone"
        return Answer(pq.text, "what", f"I found nothing {who} said{about}.", None, [], pq)
    top = eps[0].hits[0]
    when = _when(top.time.astimezone(tz), now.astimezone(tz))
    who = sq.speaker or name(top.utterance.speaker_id)
    sentence = f'{who[:1].upper() + who[1:]} said {when}: "{top.quote}"'
    spoke = top.utterance.speaker_id
    to_name = [] if sq.speaker or not spoke or spoke in by_id else _people_to_name(ctx, [spoke], None, False)
    return Answer(pq.text, pq.intent, sentence, None, hits, pq, to_name)


def _lower_first(text: str) -> str:
    """A description inside a sentence ("… yesterday: evening with Barack"), its end stop dropped."""
    text = text.strip().rstrip(".")
    first, _, rest = text.partition(" ")
    if first.rstrip(":") in ("Morning", "Afternoon", "Evening", "Night"):  # never a name
        return f"{first.lower()} {rest}".strip()
    return text


def _window_answer(ctx: RecallContext, pq: ParsedQuestion, now: datetime, limit: int, thumbnails: bool) -> Answer:
    """No subject but a time ("what did I see between 2 and 4 yesterday?"): the episodes then."""
    assert pq.window is not None
    tz = ctx.tz
    end = pq.window.end or now
    eps = ctx.episodes_between(pq.window.start, end)
    if pq.intent == "last":
        eps = eps[::-1]
    hits = []
    for e in eps[:limit]:
        thumb = ctx.thumbnail_file(e.thumb_ids[0]) if thumbnails and e.thumb_ids else None
        hits.append(Hit(e.id, e.start.astimezone(tz), e.end.astimezone(tz), 1.0,
                        [Evidence("label", e.start.astimezone(tz), e.description or e.summary, thumb)]))
    count = len(eps) if pq.intent == "count" else None
    phrase = pq.window.phrase
    if not eps:
        sentence = f"Nothing was recorded {phrase}."
        outside = _outside_memory(ctx, pq)
        if outside is not None:
            sentence = f"{sentence} {outside}"
    elif pq.intent in ("first", "last"):
        e = eps[0]
        said = _lower_first(e.description or e.summary)
        sentence = f"The {pq.intent} thing {phrase}: {said} ({_when(e.start.astimezone(tz), now.astimezone(tz))})."
    else:
        shown = "; ".join(f"{e.start.astimezone(tz):%H:%M} {_lower_first(e.description or e.summary)}" for e in eps[:3])
        more = f" and {len(eps) - 3} more" if len(eps) > 3 else ""
        sentence = f"{len(eps)} moment{'s' if len(eps) != 1 else ''} {phrase}: {shown}{more}."
    return Answer(pq.text, pq.intent, sentence, count, hits, pq)


def _episode_rows(ctx: RecallContext, ids: list[str]) -> dict[str, EpisodeSpan]:
    from lifelog.store.sql import sql_in

    if not ids:
        return {}
    where = sql_in("id", ids)
    hidden = ctx.store.committed_filter(episode_column="id")  # unfinished imports, the trash
    if hidden:
        where = f"{where} AND {hidden}"
    rows = ctx.store.rows("episodes", where, columns=["id", "start", "end"]).to_pylist()
    return {r["id"]: EpisodeSpan(id=r["id"], start=r["start"], end=r["end"]) for r in rows}


def _when(dt: datetime, now: datetime) -> str:
    days = (now.date() - dt.date()).days
    clock = f"{dt:%H:%M}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"yesterday at {clock}"
    if 1 < days < 7:
        return f"on {dt:%A} at {clock}"
    return f"on {dt:%a} {dt.day} {dt:%b %Y} at {clock}"


_SAY_AS = {"a": "a", "an": "an", "the": "the", "my": "your", "our": "your", "your": "my", "some": "some",
           "his": "his", "her": "her", "their": "their"}


def _as_asked(pq: ParsedQuestion) -> str:
    """The subject with the determiner the question gave it ("a cat", "my keys" → "your keys"),
    so the answer reads as a reply to the question; the bare subject otherwise."""
    subj = pq.subject
    if not subj:
        return subj
    m = re.search(r"\b(\w+)\s+" + re.escape(subj) + r"\b", pq.text, flags=re.IGNORECASE)
    if m and m.group(1).lower() in _SAY_AS:
        return f"{_SAY_AS[m.group(1).lower()]} {subj}"
    return subj


def _sentence(pq: ParsedQuestion, hits: list[Hit], count: int | None, now: datetime, total: int = 0) -> str:
    subj = pq.subject
    said = _as_asked(pq)
    span = f" {pq.window.phrase}" if pq.window is not None and pq.window.phrase else ""
    if pq.intent == "count":
        unit = "day" if pq.count_unit == "days" else "time"
        n = count or 0
        return f"You saw {said} on {n} {unit}{'s' if n != 1 else ''}{span}." if unit == "day" else (
            f"You saw {said} {n} {unit}{'s' if n != 1 else ''}{span}."
        )
    if not hits:
        return f"I found no {subj}{span} in your memory."
    h = hits[0]
    when = _when(h.start, now)
    if h.evidence and all(e.kind == "transcript" for e in h.evidence):
        return f'{subj[:1].upper() + subj[1:]} was mentioned {_when(h.evidence[0].time, now)}: "{h.evidence[0].text}"'

    if pq.intent == "last":
        return f"You last saw {said} {when}."
    if pq.intent == "first":
        return f"You first saw {said} {when}."
    more = ""
    if len(hits) > 1 and pq.intent in ("list", "what", "when"):
        # A list reads as a short summary plus the moments, not a dump.
        n = max(total, len(hits))
        times = sorted(hits[1:4], key=lambda h: h.start)
        more = f" \u2014 {n} moments in all, also {', '.join(_when(h.start, now) for h in times)}"
        if n > 1 + len(times):
            more += f" and {n - 1 - len(times)} more"
    if pq.yes_no:
        return f"Yes, you saw {said} {when}{more}."
    return f"You saw {said} {when}{more}."

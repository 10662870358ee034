"""Descriptions of episodes and days in words a person would write (issue #14 part 3, #16 item 5).

Built from the structured memory, never from a raw label list:

* **people** by name, "someone not named yet" for a face grouped but not named (hidden people
  are left out);
* **things** in human words: an everyday object's catalogue name (:mod:`lifelog.objects.vocabulary`),
  a kind word of the scene lexicon for animals and vehicles ("a dog", "a bird", "a boat"), and a
  bare ImageNet lemma only when the classifier is sure of it (:data:`SURE`). A label counts only
  when its mass in a frame reaches :data:`KEEP` (low-confidence labels dropped); in a frame where
  a face was detected it must reach :data:`FACE_KEEP` (a face is often classified "ball" or
  "mask"); at most three things are named;
* **the scene** ("at home", "in the kitchen", "in town") from the scene lexicon, only with several
  co-occurring cues (:data:`SCENE_MIN` and two distinct cue labels);
* **text read** (the best OCR line or two, short) and **what was said** (who spoke and the words
  that stand out);
* **time of day** in the memory's zone (``ctx.tz``). Day descriptions add clock times.

Idempotent: each note stores a hash of its inputs (label ids and scores, people and names, OCR
and utterance ids, the zone, :data:`VERSION`); a pass over an unchanged memory reads ids and
compares hashes, decrypting and writing nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from lifelog.consolidate.context import ConsolidationContext
from lifelog.objects.vocabulary import friendly_name
from lifelog.store.db import Store
from lifelog.store.notes import Note, day_note_id, delete_notes, episode_note_id, note_inputs, write_notes
from lifelog.store.sql import sql_in
from lifelog.store.terms import STOP_WORDS, words
from lifelog.store.vault import Vault

log = logging.getLogger(__name__)
VERSION = "describe-1"
KEEP = 0.30  # a thing's label mass in a frame needed to name it
FACE_KEEP = 0.60  # … in a frame where a face was detected
SURE = 0.60  # a bare ImageNet lemma (no catalogue or kind word) is named only this sure
SCENE_MIN = 0.25  # a scene's mean evidence over the episode's frames
MAX_THINGS = 3
BATCH = 25  # episodes written per commit
UNNAMED = "someone not named yet"
_PLURAL_OK = {"sunglasses", "binoculars", "matches", "scissors", "headphones", "glasses"}
_SCENE_PHRASE = {
    "home": "at home", "kitchen": "in the kitchen", "office": "at the office", "garden": "in a garden",
    "park": "in a park", "street": "on the street", "town": "in town", "shop": "shopping", "bedroom": "in the bedroom",
    "bathroom": "in the bathroom", "meal": "at a meal", "breakfast": "at breakfast", "driving": "driving",
    "outdoors": "outdoors", "field": "in the fields", "beach": "at the beach", "skiing": "skiing",
    "snow": "in the snow", "swimming": "swimming", "gym": "at the gym", "meeting": "in a meeting",
    "concert": "at a concert", "library": "in a library", "restaurant": "at a restaurant",
    "hospital": "at a hospital", "station": "at a station", "airport": "at an airport", "garage": "in a garage",
    "party": "at a party", "sightseeing": "sightseeing", "temple": "at a temple", "church": "at a church",
    "zoo": "at a zoo",
}
# Words said that tell nothing about the topic.
_DULL = frozenset([
    "mister", "missus", "doctor", "saint",
    "about", "after", "again", "also", "always", "anything", "because", "before", "being", "could", "didn",
    "doesn", "don", "going", "gonna", "got", "have", "just", "know", "like", "little", "look", "maybe", "more",
    "much", "need", "now", "okay", "really", "right", "said", "say", "says", "should", "some", "something",
    "still", "sure", "than", "thank", "thanks", "that", "then", "there", "thing", "things", "think", "this",
    "those", "though", "well", "what", "when", "where", "which", "while", "will", "with", "would", "yeah", "your",
    "yours", "very", "even", "back", "come", "came", "went", "want", "wanted", "make", "made", "take", "took",
    "tell", "told", "time",
])


# ------------------------------------------------------------------------------ words
def part_of_day(t: datetime) -> str:
    h = t.hour
    if 5 <= h < 12:
        return "Morning"
    if 12 <= h < 17:
        return "Afternoon"
    if 17 <= h < 22:
        return "Evening"
    return "Night"


def _article(word: str) -> str:
    if word in _PLURAL_OK or (word.endswith("s") and not word.endswith("ss")):
        return word
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class Words:
    """ImageNet label → a human word, and the scene cues, from the catalogue and the lexicon."""

    def __init__(self) -> None:
        from lifelog.encoders import get_visual_encoder
        from lifelog.recall.scenes import get_lexicon

        self.kind_of: dict[str, str] = {}
        self.scenes: list[tuple[str, dict[str, float]]] = []
        lex = get_lexicon(get_visual_encoder().label_names)
        if lex is not None:
            for e in lex.entries:
                if e.kind == "category":
                    for lab, w in e.labels.items():
                        if w >= 1.0:
                            self.kind_of.setdefault(lab, e.words[0])
                elif e.words[0] in _SCENE_PHRASE:
                    self.scenes.append((e.words[0], e.labels))

    def word(self, label: str) -> tuple[str, bool]:
        """(human word, whether it is a bare lemma that needs :data:`SURE`)."""
        name = friendly_name(label) or self.kind_of.get(label)
        return (name, False) if name else (label.lower(), True)


@dataclass
class EpisodeFacts:
    """What an episode's description is made from."""

    id: str
    kind: str
    start: datetime  # in the memory's zone
    end: datetime
    people: list[str] = field(default_factory=list)  # person ids (shown)
    things: list[str] = field(default_factory=list)
    scene: str | None = None
    read: list[str] = field(default_factory=list)
    speakers: list[str | None] = field(default_factory=list)  # person ids, None = unknown
    said: list[str] = field(default_factory=list)  # salient words


def things_and_scene(words_: Words, frames: Sequence[dict[str, Any]], face_frames: set[str]
                     ) -> tuple[list[str], str | None]:
    """The things named in an episode's frames (best first) and its scene, if the evidence holds."""
    seen: dict[str, list[float]] = {}
    scene_score: dict[str, float] = {}
    scene_cues: dict[str, set[str]] = {}
    for f in frames:
        labels = list(f.get("labels") or [])
        scores = [float(s) for s in (f.get("label_scores") or [])]
        keep = FACE_KEEP if f.get("id") in face_frames else KEEP
        mass: dict[str, float] = {}
        bare: dict[str, bool] = {}
        for lab, p in zip(labels, scores, strict=False):
            w, is_bare = words_.word(lab)
            mass[w] = mass.get(w, 0.0) + p
            bare[w] = is_bare
        for w, m in mass.items():
            if m >= keep and (not bare[w] or m >= max(SURE, keep)):
                seen.setdefault(w, []).append(m)
        if f.get("id") in face_frames:
            continue  # clothes and faces are poor evidence of a place ("suit, Windsor tie" is no meeting)
        for name, weights in words_.scenes:
            s = 0.0
            for lab, p in zip(labels, scores, strict=False):
                wt = weights.get(lab)
                if wt:
                    s += wt * p
                    if p >= 0.05:
                        scene_cues.setdefault(name, set()).add(lab)
            scene_score[name] = scene_score.get(name, 0.0) + s
    n = max(1, len(frames))
    scene = None
    best = 0.0
    for name, total in scene_score.items():
        mean = total / n
        if mean >= SCENE_MIN and len(scene_cues.get(name, ())) >= 2 and mean > best:
            scene, best = name, mean
    ranked = sorted(seen, key=lambda w: (-len(seen[w]), -max(seen[w]), w))
    return ranked[:MAX_THINGS], scene


def salient_words(texts: Sequence[str], limit: int = 3) -> list[str]:
    """The words that stand out in what was said: not stop words or fillers, four letters or
    more, most frequent first (ties: first said)."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    shown: dict[str, str] = {}
    i = 0
    for t in texts:
        for token in re.findall(r"[^\W\d_]+", t):
            for w in words(token):
                i += 1
                if len(w) < 4 or w in STOP_WORDS or w in _DULL or not w.isalpha():
                    continue
                counts[w] += 1
                first.setdefault(w, i)
                if token[:1].isupper() and token[1:].islower() and w not in shown:
                    shown[w] = token  # a name keeps its capital
    top = sorted(counts, key=lambda w: (-counts[w], first[w]))[:limit]
    return [shown.get(w, w) for w in top]


def episode_text(f: EpisodeFacts, names: dict[str, str]) -> str:
    """One episode in words: "Morning at home with Barack; a cup in view; read "OPEN"; Barack
    talked about trip and tickets."."""

    def who(pid: str | None) -> str:
        return names.get(pid, UNNAMED) if pid else "someone"

    head = part_of_day(f.start)
    if f.scene:
        head += " " + _SCENE_PHRASE.get(f.scene, f"at a {f.scene}")
    named = [names[p] for p in f.people if p in names]
    unnamed = len([p for p in f.people if p not in names])
    company = list(named)
    if unnamed == 1:
        company.append(UNNAMED)
    elif unnamed > 1:
        company.append(f"{unnamed} people not named yet")
    things = [_article(t) for t in f.things]
    clauses = []
    if company:
        clauses.append(f"{head} with {_join(company)}")
        if things:
            clauses.append(f"{_join(things)} in view")
    elif things:
        clauses.append(f"{head} with {_join(things)}")
    elif f.kind == "audio":
        clauses.append(f"{head}: an audio recording")
    else:
        clauses.append(f"{head}: a {f.kind or 'moment'}" if not f.scene else head)
    if f.read:
        clauses.append("read " + _join([f"\u201c{line}\u201d" for line in f.read[:2]]))
    if f.speakers or f.said:
        speakers = list(dict.fromkeys(who(s) for s in f.speakers)) or ["someone"]
        if "someone" in speakers and len(speakers) > 1:
            speakers.remove("someone")
        talk = _join(speakers)
        clauses.append(f"{talk} talked about {_join(f.said)}" if f.said else f"{talk} spoke")
    text = "; ".join(clauses)
    return text[:1].upper() + text[1:] + "."


_SPEECH_CLAUSE = re.compile(r"; [^;\u201c\u201d]* (?:talked about [^;]*|spoke)\.$")


def without_speech(text: str) -> str:
    """An episode description without what was said (its last clause, "…; Barack talked about the
    trip."), for a reader not allowed to read speech (a grant without the transcripts scope)."""
    stripped = _SPEECH_CLAUSE.sub(".", text)
    return stripped


def day_text(day: date, items: Sequence[tuple[datetime, str]]) -> str:
    """A day: "Tue 14 May: 09:15 at home with a dog; 11:00 with Barack, …" (consecutive episodes
    described alike are one item with a time range)."""
    merged: list[tuple[datetime, datetime, str]] = []
    for t, text in sorted(items, key=lambda x: x[0]):
        short = re.sub(r"^(Morning|Afternoon|Evening|Night)(: | )?", "", text).rstrip(".")
        if merged and merged[-1][2] == short:
            merged[-1] = (merged[-1][0], t, short)
        else:
            merged.append((t, t, short))
    parts = []
    for a, b, short in merged[:8]:
        when = f"{a:%H:%M}" if a == b else f"{a:%H:%M}\u2013{b:%H:%M}"
        parts.append(f"{when} {short}".strip())
    more = f"; and {len(merged) - 8} more" if len(merged) > 8 else ""
    return f"{day:%a} {day.day} {day:%b %Y}: " + "; ".join(parts) + more + "."


# ------------------------------------------------------------------------------ inputs
def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _tz_name(tz: tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz)


class _Memory:
    """The structured memory the descriptions are made from, read once per pass."""

    def __init__(self, store: Store, vault: Vault, tz: tzinfo) -> None:
        from lifelog.people.service import People

        self.store, self.vault, self.tz = store, vault, tz
        hidden = store.committed_filter(episode_column="id")
        self.episodes = store.rows("episodes", hidden, columns=[
            "id", "kind", "start", "end", "labels", "label_scores", "n_frames", "model"]).to_pylist()
        ids = [e["id"] for e in self.episodes]
        self.people = People(store, vault)
        infos = self.people.list(include_hidden=True)
        self.hidden = {p.id for p in infos if p.hidden}
        self.names = {p.id: p.name for p in infos if p.name and not p.hidden}
        self.in_episode: dict[str, list[str]] = {}
        for ep, pid in sorted(self.people.tables.episode_people(ids)) if ids else []:
            if pid not in self.hidden:
                self.in_episode.setdefault(ep, []).append(pid)
        self.ocr: dict[str, list[tuple[str, float]]] = {}
        if store.count("ocr"):
            for r in store.rows("ocr", None, columns=["id", "episode_id", "score"]).to_pylist():
                if r.get("episode_id"):
                    self.ocr.setdefault(r["episode_id"], []).append((r["id"], float(r.get("score") or 0.0)))
        self.utts: dict[str, list[tuple[str, str | None]]] = {}
        if store.count("utterances"):
            for r in store.rows("utterances", None, columns=["id", "episode_id", "speaker_id"]).to_pylist():
                if r.get("episode_id"):
                    self.utts.setdefault(r["episode_id"], []).append((r["id"], r.get("speaker_id")))

    def inputs(self, e: dict[str, Any]) -> str:
        eid = e["id"]
        people = self.in_episode.get(eid, [])
        return _digest([
            VERSION, _tz_name(self.tz), e["start"].isoformat(), e["end"].isoformat(), e.get("kind"),
            list(e.get("labels") or []), [round(float(s), 3) for s in e.get("label_scores") or []],
            e.get("n_frames"), e.get("model"), [(p, self.names.get(p)) for p in people],
            sorted(self.ocr.get(eid, [])),
            sorted((u, s or "", self.names.get(s or "")) for u, s in self.utts.get(eid, [])),
        ])

    def facts(self, words_: Words, episodes: Sequence[dict[str, Any]]) -> list[EpisodeFacts]:
        """Facts of these episodes (reads their frames, faces, OCR lines and utterances)."""
        from lifelog.ocr.search import load_lines
        from lifelog.speech.store import load_utterances

        ids = [e["id"] for e in episodes]
        frames = self.store.rows("frames", sql_in("episode_id", ids),
                                 columns=["id", "episode_id", "labels", "label_scores"]).to_pylist()
        by_ep: dict[str, list[dict[str, Any]]] = {}
        for f in frames:
            by_ep.setdefault(f["episode_id"], []).append(f)
        faces = self.store.rows("faces", sql_in("episode_id", ids), columns=["frame_id"]).column("frame_id")
        face_frames = {f for f in faces.to_pylist() if f}
        ocr_ids = [o for e in ids for o, s in self.ocr.get(e, []) if s >= 0.6]
        utt_ids = [u for e in ids for u, _ in self.utts.get(e, [])]
        try:
            lines = load_lines(self.store, self.vault, ocr_ids) if ocr_ids else {}
        except Exception as err:  # a damaged row: these descriptions go without the text read
            log.warning("describe: text read in %d episodes cannot be decrypted (%s)", len(ids), type(err).__name__)
            lines = {}
        try:
            utts = load_utterances(self.store, self.vault, utt_ids) if utt_ids else []
        except Exception as err:  # … or without what was said
            log.warning("describe: speech in %d episodes cannot be decrypted (%s)", len(ids), type(err).__name__)
            utts = []
        out = []
        for e in episodes:
            eid = e["id"]
            fr = by_ep.get(eid) or [{"id": None, "labels": e.get("labels"), "label_scores": e.get("label_scores")}]
            things, scene = things_and_scene(words_, fr, face_frames)
            read = []
            for o, _s in sorted(self.ocr.get(eid, []), key=lambda x: -x[1]):
                text = " ".join(lines.get(o, ("", 0.0))[0].split())
                if len(text) >= 3 and text not in read:
                    read.append(text if len(text) <= 40 else text[:39].rstrip() + "\u2026")
                if len(read) >= 2:
                    break
            mine = [u for u in utts if u.episode_id == eid]
            out.append(EpisodeFacts(
                id=eid, kind=e.get("kind") or "", start=e["start"].astimezone(self.tz),
                end=e["end"].astimezone(self.tz), people=self.in_episode.get(eid, []), things=things, scene=scene,
                read=read, speakers=[u.speaker_id for u in mine if u.speaker_id not in self.hidden],
                said=salient_words([u.text for u in mine]),
            ))
        return out


# ------------------------------------------------------------------------------ the step
def describe_pending(ctx: ConsolidationContext, *, now: datetime) -> int:
    """(Re)write the description of every episode and day whose inputs changed; returns how many
    notes were written. Cancellable between episodes; what was written stays (the next pass
    resumes). The caller holds the memory's write lock."""
    del now  # descriptions depend on the memory, not on when the pass runs
    return describe(ctx.store, ctx.vault, ctx.tz, cancelled=ctx.cancelled, report=ctx.report)


def describe(store: Store, vault: Vault, tz: tzinfo, *, episode_ids: Sequence[str] | None = None,
             cancelled: Any = None, report: Any = None) -> int:
    """The work of :func:`describe_pending`; ``episode_ids`` limits it to those episodes and their
    days (what an import just added: ``Memory.describe_new``)."""
    store.refresh()
    mem = _Memory(store, vault, tz)
    stored = note_inputs(store, "episode")
    wanted = set(episode_ids) if episode_ids is not None else None
    inputs = {e["id"]: mem.inputs(e) for e in mem.episodes}
    todo = [e for e in mem.episodes if (wanted is None or e["id"] in wanted)
            and stored.get(episode_note_id(e["id"])) != inputs[e["id"]]]
    total = len(todo)
    written = 0
    if wanted is None:  # notes of episodes that are gone (merged, forgotten by an older version)
        all_ids = set(store.rows("episodes", None, columns=["id"]).column("id").to_pylist())
        stale = [i for i in stored if i.removeprefix("ep:") not in all_ids]
        delete_notes(store, stale)
    words_ = Words() if todo else None
    texts: dict[str, str] = {}
    for i in range(0, len(todo), BATCH):
        if cancelled is not None and cancelled():
            return written
        batch = todo[i:i + BATCH]
        assert words_ is not None
        notes = []
        for f in mem.facts(words_, batch):
            text = episode_text(f, mem.names)
            texts[f.id] = text
            mentioned = set(f.people) | {s for s in f.speakers if s}
            notes.append(Note(episode_note_id(f.id), "episode", f.id, text, inputs[f.id], f.start, f.end,
                              people=sorted(mentioned), episodes=[f.id]))
        write_notes(store, vault, notes)
        written += len(notes)
        if report is not None:
            report("describe", min(i + BATCH, total), total)
    written += _describe_days(store, vault, mem, inputs, texts, wanted)
    if report is not None:
        report("describe", total, total)
    return written


def _describe_days(store: Store, vault: Vault, mem: _Memory, inputs: dict[str, str], texts: dict[str, str],
                   wanted: set[str] | None) -> int:
    from lifelog.store.notes import read_notes

    by_day: dict[date, list[dict[str, Any]]] = {}
    for e in mem.episodes:
        by_day.setdefault(e["start"].astimezone(mem.tz).date(), []).append(e)
    if wanted is not None:
        days = {d for d, eps in by_day.items() if any(e["id"] in wanted for e in eps)}
    else:
        days = set(by_day)
        stale = [i for i in note_inputs(store, "day") if i.removeprefix("day:") not in {str(d) for d in by_day}]
        delete_notes(store, stale)
    stored = note_inputs(store, "day")
    todo = []
    for d in sorted(days):
        eps = by_day[d]
        h = _digest([VERSION, _tz_name(mem.tz), sorted((e["id"], inputs[e["id"]]) for e in eps)])
        if stored.get(day_note_id(str(d))) != h or any(e["id"] in texts for e in eps):  # an episode's words changed
            todo.append((d, eps, h))
    if not todo:
        return 0
    missing = [e["id"] for _, eps, _ in todo for e in eps if e["id"] not in texts]
    for i in range(0, len(missing), 500):
        for n in read_notes(store, vault, sql_in("id", [episode_note_id(m) for m in missing[i:i + 500]])):
            texts[n.subject] = n.text
    notes = []
    for d, eps, h in todo:
        items = [(e["start"].astimezone(mem.tz), texts.get(e["id"], part_of_day(e["start"].astimezone(mem.tz))))
                 for e in eps]
        people = sorted({p for e in eps for p in mem.in_episode.get(e["id"], [])}
                        | {s for e in eps for _, s in mem.utts.get(e["id"], []) if s})
        start = min(e["start"] for e in eps)
        end = max(e["end"] for e in eps)
        notes.append(Note(day_note_id(str(d)), "day", str(d), day_text(d, items), h, start, end, people=people,
                          episodes=[e["id"] for e in eps]))
    write_notes(store, vault, notes, index=False)
    return len(notes)


def fallback_description(kind: str, start: datetime, people: Sequence[str], objects: Sequence[str]) -> str:
    """Readable words for an episode no describe step has seen yet, from what a list of episodes
    already knows (the names of who was there, ``person <id>`` for the unnamed, and everyday
    objects); ``start`` in the zone to describe it in. Never a label list."""
    names = {p: p for p in people if not p.startswith("person ")}
    f = EpisodeFacts(id="", kind=kind, start=start, end=start, people=list(people), things=list(objects)[:MAX_THINGS])
    return episode_text(f, names)

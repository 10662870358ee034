"""Everyday objects over time, from the ImageNet labels every kept frame already has.

The visual encoder (``lifelog.encoders.visual``) classifies every kept frame into the 1000
ImageNet classes and the import stores its top labels and their probabilities on the frame
(``frames.labels`` / ``frames.label_scores``). This module reads those labels back: it adds
**no model and no per-frame work** (+0 ms per frame). See ``docs/objects.md``.

* :data:`CATALOGUE` is an explicit, curated list of everyday objects, each a friendly name
  ("phone"), the ImageNet classes that show it ("cellular telephone", "dial telephone") and the
  words a user may call it by ("mobile", "smartphone").
* A frame **shows** an object when the probabilities of the object's classes among the frame's
  top labels add up to at least :data:`THRESHOLD`.
* :class:`Objects` lists the objects seen (first/last seen, episodes, frames, best thumbnail),
  gives one object's timeline by episode, and maps a user's word to classes.

Reads use LanceDB filters (``array_has_any`` on the ``labels`` LABEL_LIST index, the time
window, the unfinished-import filter) and select only the light columns, never the vectors.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lifelog.store.db import Store
from lifelog.store.sql import sql_in, sql_str, window_filter

# A frame shows an object when the summed probability of the object's classes among its stored
# top labels is at least this. 0.15 is 150x the uniform 1/1000: a clearly visible object is
# usually well above it (coffee.png: cup classes 0.95, motorcycle_left.png: scooter 0.82), while
# the labels a cluttered scene spreads its probability over sit below it (left01.jpg, an office:
# desktop computer 0.10, monitor 0.03). See docs/objects.md for the measurement.
THRESHOLD = 0.15

FRAME_COLUMNS = ["episode_id", "t", "labels", "label_scores", "thumb_id"]
_ID_CHUNK = 500  # episode ids per IN (...) filter

# (friendly name, ImageNet classes (their lemma, as stored in frames.labels), other words for it)
#
# The rule: a class is an everyday object when it is a portable, man-made thing that a person
# owns or handles at home, at work or on the move, so it can be put down, left somewhere and
# seen again — personal items and bags, electronics, stationery, kitchenware and tableware,
# small appliances, toiletries, tools, sports and leisure gear, toys, musical instruments and
# personal vehicles (bicycles, scooters, cars). Left out: animals, plants, food and drink (but
# "cup" and "espresso", whose ImageNet images are a cup), landscapes and scenes; buildings,
# shops, structures, fixtures and furniture (desk, bookcase, bathtub, door: the room, not a
# thing); clothing and shoes worn on the body; public, industrial and military vehicles;
# weapons; and classes whose lemma is ambiguous in ImageNet ("crane", "maillot").
CATALOGUE: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # electronics
    ("phone", ("cellular telephone", "dial telephone"),
     ("mobile", "mobile phone", "cellphone", "cell phone", "smartphone", "telephone", "iphone")),
    ("laptop", ("laptop", "notebook"), ("notebook computer", "computer", "macbook")),
    ("desktop computer", ("desktop computer",), ("computer", "pc")),
    ("tablet", ("hand-held computer",), ("ipad", "pda", "handheld computer")),
    ("monitor", ("monitor", "screen"), ("display", "computer screen")),
    ("keyboard", ("computer keyboard", "typewriter keyboard", "space bar"), ("keypad",)),
    ("mouse", ("mouse",), ("computer mouse",)),
    ("tv", ("television",), ("television set", "telly")),
    ("remote", ("remote control",), ("tv remote", "remote")),
    ("music player", ("iPod",), ("ipod", "mp3 player")),
    ("speaker", ("loudspeaker",), ("speakers",)),
    ("radio", ("radio",), ()),
    ("cassette player", ("cassette player", "tape player"), ("tape player",)),
    ("cd player", ("CD player",), ()),
    ("camera", ("reflex camera", "Polaroid camera"), ("dslr", "polaroid")),
    ("tripod", ("tripod",), ()),
    ("binoculars", ("binoculars",), ()),
    ("printer", ("printer",), ()),
    ("photocopier", ("photocopier",), ("copier",)),
    ("hard drive", ("hard disc",), ("hard disk", "external drive")),
    ("modem", ("modem",), ("router",)),
    ("joystick", ("joystick",), ("game controller",)),
    ("microphone", ("microphone",), ("mic",)),
    ("projector", ("projector",), ()),
    # home
    ("lamp", ("table lamp", "lampshade"), ("desk lamp",)),
    ("fan", ("electric fan",), ("electric fan",)),
    ("space heater", ("space heater",), ("heater",)),
    ("clock", ("analog clock", "digital clock", "wall clock"), ("alarm clock",)),
    ("watch", ("digital watch", "stopwatch"), ("wristwatch",)),
    ("candle", ("candle",), ()),
    ("vase", ("vase",), ()),
    ("flower pot", ("pot",), ("flowerpot", "plant pot")),
    ("basket", ("hamper", "shopping basket"), ("laundry basket",)),
    ("bucket", ("bucket",), ("pail",)),
    ("box", ("carton", "packet"), ("package", "parcel", "cardboard box")),
    ("lock", ("padlock", "combination lock"), ()),
    ("lighter", ("lighter",), ("cigarette lighter",)),
    ("matches", ("matchstick",), ("match",)),
    ("towel", ("bath towel",), ()),
    ("toilet paper", ("toilet tissue",), ("toilet roll",)),
    ("paper towel", ("paper towel",), ("kitchen roll",)),
    ("iron", ("iron",), ("clothes iron",)),
    ("vacuum cleaner", ("vacuum",), ("hoover",)),
    ("washing machine", ("washer",), ()),
    ("dishwasher", ("dishwasher",), ()),
    ("fridge", ("refrigerator",), ()),
    ("microwave", ("microwave",), ()),
    ("toaster", ("toaster",), ()),
    ("waffle iron", ("waffle iron",), ()),
    ("slow cooker", ("Crock Pot",), ("crockpot",)),
    ("sewing machine", ("sewing machine",), ()),
    ("hair dryer", ("hand blower",), ("hairdryer", "blow dryer")),
    ("scale", ("scale",), ("bathroom scale", "scales")),
    # bags and personal things
    ("backpack", ("backpack",), ("bag", "rucksack", "knapsack", "school bag")),
    ("purse", ("purse",), ("bag", "handbag")),
    ("shoulder bag", ("mailbag",), ("bag", "messenger bag")),
    ("plastic bag", ("plastic bag",), ("shopping bag",)),
    ("wallet", ("wallet",), ("billfold",)),
    ("sunglasses", ("sunglasses", "sunglass"), ("shades",)),
    ("umbrella", ("umbrella",), ()),
    ("helmet", ("crash helmet",), ("bike helmet", "bicycle helmet", "motorcycle helmet")),
    ("sleeping bag", ("sleeping bag",), ()),
    ("tent", ("mountain tent",), ()),
    # stationery and reading
    ("book", ("book jacket", "comic book"), ("books", "novel", "comic")),
    ("binder", ("binder",), ("folder", "ring binder")),
    ("envelope", ("envelope",), ("letter",)),
    ("pen", ("ballpoint", "fountain pen", "quill"), ("ballpoint pen", "biro")),
    ("pencil case", ("pencil box",), ()),
    ("pencil sharpener", ("pencil sharpener",), ("sharpener",)),
    ("eraser", ("rubber eraser",), ()),
    ("ruler", ("rule",), ()),
    ("letter opener", ("letter opener",), ()),
    # kitchen and table
    ("cup", ("coffee mug", "cup", "espresso"), ("mug", "coffee cup", "teacup", "coffee")),
    ("glass", ("beer glass", "goblet"), ("wine glass", "drinking glass")),
    ("water bottle", ("water bottle",), ("bottle", "flask")),
    ("bottle", ("beer bottle", "wine bottle", "pop bottle"), ("soda bottle",)),
    ("pill bottle", ("pill bottle",), ("pills", "medicine")),
    ("jug", ("water jug", "whiskey jug", "pitcher"), ()),
    ("teapot", ("teapot",), ()),
    ("coffee pot", ("coffeepot",), ("coffeepot",)),
    ("coffee machine", ("espresso maker",), ("coffee maker",)),
    ("cocktail shaker", ("cocktail shaker",), ()),
    ("measuring cup", ("measuring cup",), ()),
    ("bowl", ("mixing bowl", "soup bowl"), ()),
    ("pan", ("frying pan", "wok"), ("skillet", "frypan")),
    ("cooking pot", ("Dutch oven", "caldron"), ("pot", "saucepan", "casserole")),
    ("tray", ("tray",), ()),
    ("ladle", ("ladle",), ()),
    ("spatula", ("spatula",), ()),
    ("wooden spoon", ("wooden spoon",), ("spoon",)),
    ("knife", ("cleaver",), ("kitchen knife", "meat cleaver")),
    ("can opener", ("can opener",), ("tin opener",)),
    ("corkscrew", ("corkscrew",), ("bottle opener",)),
    ("strainer", ("strainer",), ("sieve", "colander")),
    ("salt shaker", ("saltshaker",), ()),
    # toiletries
    ("lipstick", ("lipstick",), ()),
    ("perfume", ("perfume",), ()),
    ("lotion", ("lotion",), ("cream",)),
    ("sunscreen", ("sunscreen",), ("sun cream",)),
    ("hair spray", ("hair spray",), ()),
    ("soap dispenser", ("soap dispenser",), ("soap",)),
    # tools and cleaning
    ("hammer", ("hammer",), ()),
    ("screwdriver", ("screwdriver",), ()),
    ("drill", ("power drill",), ()),
    ("hatchet", ("hatchet",), ("axe", "ax")),
    ("chainsaw", ("chain saw",), ()),
    ("shovel", ("shovel",), ("spade",)),
    ("toolbox", ("carpenter's kit",), ("tool kit", "tools")),
    ("paintbrush", ("paintbrush",), ("brush",)),
    ("broom", ("broom",), ()),
    ("mop", ("swab",), ()),
    ("plunger", ("plunger",), ()),
    ("lawn mower", ("lawn mower",), ("mower",)),
    # sport, leisure, toys, music
    ("ball", ("soccer ball", "basketball", "volleyball", "tennis ball", "rugby ball", "golf ball", "baseball",
              "ping-pong ball", "croquet ball"), ("football",)),
    ("racket", ("racket",), ("tennis racket", "racquet")),
    ("skis", ("ski",), ()),
    ("dumbbell", ("dumbbell", "barbell"), ("weights",)),
    ("paddle", ("paddle",), ("oar",)),
    ("snorkel", ("snorkel",), ()),
    ("teddy bear", ("teddy",), ("teddy", "soft toy")),
    ("jigsaw puzzle", ("jigsaw puzzle",), ("jigsaw", "puzzle")),
    ("piggy bank", ("piggy bank",), ()),
    ("guitar", ("acoustic guitar", "electric guitar"), ()),
    ("violin", ("violin",), ("fiddle",)),
    ("cello", ("cello",), ()),
    ("piano", ("upright", "grand piano"), ()),
    ("flute", ("flute",), ()),
    ("saxophone", ("sax",), ("sax",)),
    ("trumpet", ("cornet",), ()),
    ("harmonica", ("harmonica",), ()),
    ("banjo", ("banjo",), ()),
    ("accordion", ("accordion",), ()),
    ("shopping cart", ("shopping cart",), ("trolley",)),
    # personal vehicles
    ("bicycle", ("mountain bike", "bicycle-built-for-two"), ("bike", "cycle", "tandem")),
    ("scooter", ("motor scooter", "moped"), ("motorbike", "motorcycle", "vespa")),
    ("car", ("sports car", "convertible", "beach wagon", "cab", "jeep", "limousine", "minivan", "Model T",
             "racer", "pickup"), ("auto", "automobile", "taxi", "station wagon", "pickup truck", "van", "suv")),
)

# Words a user says for things ImageNet has no class for. They match nothing (an empty answer)
# rather than a lookalike: "glasses" must not become a drinking glass, "keys" not a keyboard.
NOT_COVERED = frozenset({
    "key", "keys", "keyring", "glasses", "spectacles", "headphones", "earphones", "earbuds", "charger", "cable",
    "notebook paper", "notepad", "jacket", "coat", "shoes", "shoe", "hat", "scarf", "ring", "earring",
})

NAMES: tuple[str, ...] = tuple(name for name, _, _ in CATALOGUE)
CLASSES_OF: dict[str, tuple[str, ...]] = {name: classes for name, classes, _ in CATALOGUE}
OBJECT_OF_CLASS: dict[str, str] = {c: name for name, classes, _ in CATALOGUE for c in classes}
ALL_CLASSES: tuple[str, ...] = tuple(OBJECT_OF_CLASS)


def friendly_name(imagenet_class: str) -> str | None:
    """The object an ImageNet class shows ("cellular telephone" -> "phone"), or None."""
    return OBJECT_OF_CLASS.get(imagenet_class)


# ------------------------------------------------------------------ words -> objects
def _norm(text: str) -> str:
    text = text.lower().replace("'s ", " ").replace("'", "").replace("-", " ")
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _build_index() -> dict[str, tuple[str, ...]]:
    """Normalised word or phrase -> the objects it names (a few words name several: "bag")."""
    index: dict[str, list[str]] = {}

    def add(key: str, name: str) -> None:
        k = _norm(key)
        if k and k not in NOT_COVERED and name not in index.setdefault(k, []):
            index[k].append(name)

    for name, classes, aliases in CATALOGUE:
        add(name, name)
        for a in aliases:
            add(a, name)
        for c in classes:
            add(c, name)
            for other in _synonyms().get(c, []):  # WordNet synonyms, only the specific (multi-word) ones
                if " " in other.strip():
                    add(other, name)
    return {k: tuple(v) for k, v in index.items()}


def _synonyms() -> dict[str, list[str]]:
    """ImageNet lemma -> its WordNet synonyms, from the models' label file ({} if unreadable)."""
    import json

    from lifelog.encoders.visual import LABELS_FILE
    from lifelog.paths import models_dir

    try:
        entries = json.loads((models_dir() / LABELS_FILE).read_text(encoding="utf-8"))
        return {str(e["lemma"]): [str(x) for x in e.get("lemmas", [])] for e in entries}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


_INDEX: dict[str, tuple[str, ...]] | None = None


def _index() -> dict[str, tuple[str, ...]]:
    global _INDEX
    if _INDEX is None:
        _INDEX = _build_index()
    return _INDEX


def match_objects(name_or_phrase: str) -> list[str]:
    """The objects a user's word or phrase names: "phone", "my mugs", "where is my laptop?".

    The longest known word sequences win ("coffee machine" before "coffee"); words for things
    ImageNet has no class for ("keys", "glasses") and unknown words match nothing.
    """
    index = _index()
    words = _norm(name_or_phrase).split()
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(4, len(words) - i), 0, -1):
            gram = words[i : i + n]
            key = " ".join(gram)
            if key in NOT_COVERED:
                hit: tuple[str, ...] | None = ()
            else:
                hit = index.get(key)
                if hit is None:
                    single = " ".join([*gram[:-1], _singular(gram[-1])])
                    hit = () if single in NOT_COVERED else index.get(single)
            if hit is not None:
                out.extend(h for h in hit if h not in out)
                i += n
                break
        else:
            i += 1
    return out


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class ObjectInfo:
    """One everyday object seen in the memory (times are UTC here; ``Memory`` localises them)."""

    name: str
    classes: list[str]  # the ImageNet classes it was seen as, most frames first
    first_seen: datetime
    last_seen: datetime
    episodes: int
    frames: int
    thumbnail: str | None  # vault blob id of the frame where it was most probable
    probability: float  # that frame's summed class probability

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": self.classes,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "episodes": self.episodes,
            "frames": self.frames,
            "thumbnail": self.thumbnail,
            "probability": round(self.probability, 3),
        }


@dataclass(frozen=True)
class ObjectSighting:
    """An episode in which an object was seen."""

    episode_id: str
    first: datetime
    last: datetime
    thumbnail: str | None  # vault blob id of the episode's frame where it was most probable
    probability: float
    frames: int = 0
    objects: list[str] = field(default_factory=list)  # which objects (a phrase may name several)

    def to_json(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "thumbnail": self.thumbnail,
            "probability": round(self.probability, 3),
            "frames": self.frames,
            "objects": self.objects,
        }


@dataclass
class _Shown:
    """Frame x object pairs over the threshold, as arrays."""

    group: npt.NDArray[np.int64]  # index into the groups asked for
    episode: list[str]
    t_us: npt.NDArray[np.int64]
    thumb: list[str | None]
    prob: npt.NDArray[np.float64]
    class_hits: dict[int, dict[str, int]]  # group -> ImageNet class -> frames


class Objects:
    """The objects timeline of one memory: ``Objects(store)``."""

    def __init__(self, store: Store, threshold: float = THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold

    # -------------------------------------------------------------- public
    def find(self, name_or_phrase: str) -> builtins.list[str]:
        """The ImageNet classes that a user's word names ("phone" -> ["cellular telephone", …]);
        empty for words with no class ("keys")."""
        return [c for name in match_objects(name_or_phrase) for c in CLASSES_OF[name]]

    def list(self, start: datetime | None = None, end: datetime | None = None) -> builtins.list[ObjectInfo]:
        """Objects seen in [start, end) (open bounds: all time), most recently seen first."""
        groups = [(name, CLASSES_OF[name]) for name in NAMES]
        shown = self._shown(groups, self._where(ALL_CLASSES, start, end))
        out: builtins.list[ObjectInfo] = []
        if shown is None:
            return out
        for g in np.unique(shown.group):
            rows = np.flatnonzero(shown.group == g)
            best = rows[int(np.argmax(shown.prob[rows]))]
            hits = shown.class_hits.get(int(g), {})
            out.append(ObjectInfo(
                name=groups[int(g)][0],
                classes=sorted(hits, key=lambda c: -hits[c]),
                first_seen=_dt(int(shown.t_us[rows].min())),
                last_seen=_dt(int(shown.t_us[rows].max())),
                episodes=len({shown.episode[i] for i in rows}),
                frames=len(rows),
                thumbnail=shown.thumb[best],
                probability=float(shown.prob[best]),
            ))
        out.sort(key=lambda o: (o.last_seen, o.name), reverse=True)
        return out

    def timeline(
        self, name: str, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[ObjectSighting]:
        """The episodes in which the object a word names was seen, in time order (empty for an
        unknown word). A frame counts when the summed probability of all the named classes in it
        reaches the threshold."""
        names = match_objects(name)
        classes = tuple(c for n in names for c in CLASSES_OF[n])
        if not classes:
            return []
        shown = self._shown([(" / ".join(names), classes)], self._where(classes, start, end))
        if shown is None:
            return []
        by_ep: dict[str, builtins.list[int]] = {}
        for i, ep in enumerate(shown.episode):
            by_ep.setdefault(ep, []).append(i)
        seen_names = [n for n in names if any(friendly_name(c) == n for c in shown.class_hits.get(0, {}))]
        out = []
        for ep, idx in by_ep.items():
            rows = np.asarray(idx)
            best = rows[int(np.argmax(shown.prob[rows]))]
            out.append(ObjectSighting(
                episode_id=ep,
                first=_dt(int(shown.t_us[rows].min())),
                last=_dt(int(shown.t_us[rows].max())),
                thumbnail=shown.thumb[best],
                probability=float(shown.prob[best]),
                frames=len(rows),
                objects=seen_names or names,
            ))
        out.sort(key=lambda s: (s.first, s.episode_id))
        return out

    def in_episodes(self, episode_ids: Sequence[str]) -> dict[str, builtins.list[str]]:
        """The objects seen in each episode, most frames first; episodes without any are absent."""
        ids = sorted(set(episode_ids))
        groups = [(name, CLASSES_OF[name]) for name in NAMES]
        out: dict[str, builtins.list[str]] = {}
        for k in range(0, len(ids), _ID_CHUNK):
            where = f"{sql_in('episode_id', ids[k : k + _ID_CHUNK])} AND {self._where(ALL_CLASSES, None, None)}"
            shown = self._shown(groups, where)
            if shown is None:
                continue
            counts: dict[str, dict[str, int]] = {}
            for g, ep in zip(shown.group.tolist(), shown.episode, strict=True):
                per = counts.setdefault(ep, {})
                per[groups[g][0]] = per.get(groups[g][0], 0) + 1
            for ep, per in counts.items():
                out[ep] = sorted(per, key=lambda n: (-per[n], n))
        return out

    # ------------------------------------------------------------ internals
    def _where(self, classes: Iterable[str], start: datetime | None, end: datetime | None) -> str:
        names = ", ".join(sql_str(c) for c in classes)
        where = f"({window_filter(start, end)}) AND array_has_any(labels, make_array({names}))"
        hidden = self.store.committed_filter()  # leave out imports that have not finished
        return f"{where} AND {hidden}" if hidden else where

    def _shown(self, groups: Sequence[tuple[str, Sequence[str]]], where: str) -> _Shown | None:
        """Read the matching frames (light columns only) and keep the frame x group pairs whose
        summed class probability reaches the threshold; None when there are none."""
        tbl = self.store.rows("frames", where, columns=FRAME_COLUMNS)
        if tbl.num_rows == 0:
            return None
        labels = tbl.column("labels").combine_chunks()
        scores = tbl.column("label_scores").combine_chunks()
        # labels and scores are written together; a row where they disagree is not trusted
        ok = pc.equal(pc.fill_null(pc.list_value_length(labels), 0), pc.fill_null(pc.list_value_length(scores), -1))
        if not pc.all(ok).as_py():
            tbl = tbl.filter(ok)
            labels = tbl.column("labels").combine_chunks()
            scores = tbl.column("label_scores").combine_chunks()
        if tbl.num_rows == 0:
            return None
        class_list = [c for _, classes in groups for c in classes]
        group_of_class = np.asarray([g for g, (_, classes) in enumerate(groups) for _ in classes], dtype=np.int64)
        parent = np.asarray(pc.list_parent_indices(labels).to_numpy(zero_copy_only=False), dtype=np.int64)
        flat = pc.list_flatten(labels)
        cls = pc.index_in(flat, value_set=pa.array(class_list, pa.string()))
        valid = pc.is_valid(cls).to_numpy(zero_copy_only=False)
        if not valid.any():
            return None
        cls_idx = np.asarray(pc.fill_null(cls, 0).to_numpy(zero_copy_only=False), dtype=np.int64)[valid]
        prob = np.asarray(pc.fill_null(pc.list_flatten(scores), 0.0).to_numpy(zero_copy_only=False),
                          dtype=np.float64)[valid]
        frame = parent[valid]
        group = group_of_class[cls_idx]
        n_groups = len(groups)
        keys, inverse = np.unique(frame * n_groups + group, return_inverse=True)
        summed = np.bincount(inverse, weights=prob, minlength=len(keys))
        keep = summed >= self.threshold
        if not keep.any():
            return None
        kept_keys = keys[keep]
        frames_k = kept_keys // n_groups
        groups_k = kept_keys % n_groups
        # which classes the kept pairs were seen as
        class_hits: dict[int, dict[str, int]] = {}
        kept_pair = keep[inverse]
        for c, g in zip(cls_idx[kept_pair].tolist(), group[kept_pair].tolist(), strict=True):
            per = class_hits.setdefault(int(g), {})
            per[class_list[c]] = per.get(class_list[c], 0) + 1
        t_col = pc.cast(tbl.column("t"), pa.int64())
        t_us = np.asarray(t_col.to_numpy(), dtype=np.int64)[frames_k]
        eps: builtins.list[str] = tbl.column("episode_id").to_pylist()
        thumbs: builtins.list[str | None] = tbl.column("thumb_id").to_pylist()
        fk = frames_k.tolist()
        return _Shown(
            group=groups_k.astype(np.int64),
            episode=[eps[i] for i in fk],
            t_us=t_us,
            thumb=[thumbs[i] for i in fk],
            prob=np.asarray(summed[keep], dtype=np.float64),
            class_hits=class_hits,
        )


def objects_in_episodes(store: Store, episode_ids: Sequence[str]) -> dict[str, list[str]]:
    """Episode id -> the everyday objects seen in it (most frames first), for episode lists."""
    return Objects(store).in_episodes(episode_ids)


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)

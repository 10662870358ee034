"""Everyday objects and the words for them: the curated catalogue of ImageNet classes per object,
the threshold at which a frame shows one, and a user's word mapped to classes."""

from __future__ import annotations

import re

# A frame shows an object when the summed probability of the object's classes among its stored
# top labels is at least this. 0.15 is 150x the uniform 1/1000: a clearly visible object is
# usually well above it (coffee.png: cup classes 0.95, motorcycle_left.png: scooter 0.82), while
# the labels a cluttered scene spreads its probability over sit below it (left01.jpg, an office:
# desktop computer 0.10, monitor 0.03). See docs/objects.md for the measurement.
THRESHOLD = 0.15


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



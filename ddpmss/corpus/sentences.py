"""The sentence bank: a small grammar of Harvard-like English sentences (5-12 words)."""

from __future__ import annotations

import random
import re


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NOUNS = _words("""
box door lamp chair table window garden river bridge road street house barn fence gate wall
roof floor desk shelf book letter note map card coin ring watch clock bell drum flute horn
rope chain wire hook nail screw hammer saw knife fork spoon plate bowl cup jar pot pan kettle
stove oven bread cake pie soup salt sugar honey milk tea coffee juice apple lemon orange
peach plum grape melon bean corn rice wheat stone rock sand mud clay dust ash smoke cloud
storm wind rain snow frost sun moon star sky field hill valley forest tree branch leaf root
flower seed grass boat ship canoe train truck wagon wheel engine bicycle horse dog cat bird
fish sheep goat pig mouse fox bear deer duck goose hat coat shirt dress glove boot shoe scarf
basket bucket ladder blanket pillow candle mirror brush comb paper pencil ink paint picture
song story game puzzle ticket office market school church kitchen cellar tower harbor island
""")

ADJECTIVES = _words("""
red blue green yellow brown black white gray pink purple golden silver old new young small
large big tiny huge long short tall wide narrow thick thin heavy light dark bright quiet loud
soft hard smooth rough warm cold hot cool wet dry clean dirty fresh stale sweet sour bitter
rich poor cheap fine plain fancy broken empty full round square sharp dull strong weak
""")

EVALUATIVE = _words("easy hard wise foolish safe pleasant useful strange rare common")

ADVERBS = _words("""
quickly slowly quietly loudly gently carefully badly neatly softly firmly calmly gladly
bravely eagerly early late often rarely twice again
""")

NAMES = _words("""
Anna Ben Clara David Emma Frank Grace Henry Irene Jack Kate Leo Mary Nick Olive Paul Rose Sam
Tom Vera Walter Alice Carl Dora Ellen Fred Helen Ivan Julia Mark
""")

POSSESSIVES = _words("His Her Our Their My Your")

NUMBERS = _words("Two Three Four Five Six Ten Twelve Several Many Few")

PLURALS = _words("""
boys girls men women dogs cats birds horses sailors farmers children friends workers
students cooks drivers painters singers neighbors visitors
""")

PREPOSITIONS = _words("""
on in under over near behind beside across along around into onto through toward past
""")

TIMES = (
    "at noon",
    "at night",
    "at dawn",
    "in the morning",
    "in the evening",
    "last winter",
    "last summer",
    "next week",
    "on Sunday",
    "on Monday",
    "every day",
    "after lunch",
    "before dinner",
    "in the spring",
    "by the fire",
)

# (base, past) transitive verbs; the third person is derived by _third_person.
TRANSITIVE = [
    ("carry", "carried"),
    ("push", "pushed"),
    ("pull", "pulled"),
    ("lift", "lifted"),
    ("drop", "dropped"),
    ("kick", "kicked"),
    ("paint", "painted"),
    ("wash", "washed"),
    ("fix", "fixed"),
    ("break", "broke"),
    ("find", "found"),
    ("lose", "lost"),
    ("hide", "hid"),
    ("throw", "threw"),
    ("catch", "caught"),
    ("hold", "held"),
    ("bring", "brought"),
    ("take", "took"),
    ("send", "sent"),
    ("buy", "bought"),
    ("sell", "sold"),
    ("cut", "cut"),
    ("fold", "folded"),
    ("fill", "filled"),
    ("open", "opened"),
    ("close", "closed"),
    ("move", "moved"),
    ("place", "placed"),
    ("drag", "dragged"),
    ("watch", "watched"),
    ("touch", "touched"),
    ("cover", "covered"),
    ("clean", "cleaned"),
    ("build", "built"),
    ("draw", "drew"),
    ("mend", "mended"),
    ("tie", "tied"),
    ("pack", "packed"),
    ("load", "loaded"),
    ("roll", "rolled"),
    ("shake", "shook"),
    ("steal", "stole"),
    ("keep", "kept"),
    ("leave", "left"),
    ("bake", "baked"),
    ("cook", "cooked"),
    ("heat", "heated"),
    ("weigh", "weighed"),
    ("mark", "marked"),
    ("test", "tested"),
    ("check", "checked"),
    ("hang", "hung"),
]

# (base, past) intransitive verbs.
INTRANSITIVE = [
    ("sleep", "slept"),
    ("wait", "waited"),
    ("fall", "fell"),
    ("rest", "rested"),
    ("shine", "shone"),
    ("float", "floated"),
    ("glow", "glowed"),
    ("sink", "sank"),
    ("swing", "swung"),
    ("turn", "turned"),
    ("stand", "stood"),
    ("sit", "sat"),
    ("run", "ran"),
    ("walk", "walked"),
    ("jump", "jumped"),
    ("sing", "sang"),
    ("shiver", "shivered"),
    ("drift", "drifted"),
    ("crash", "crashed"),
    ("hum", "hummed"),
]

SAYING = _words("said knew felt thought noticed heard guessed claimed")

# Upper-case tokens are slots filled from the word lists above.
TEMPLATES = (
    "The ADJ NOUN IPAST ADV.",
    "NAME VPAST the ADJ NOUN.",
    "VBASE the ADJ NOUN TIME.",
    "The NOUN IPAST PREP the NOUN.",
    "The ADJ NOUN VPAST the NOUN PREP the NOUN.",
    "NAME VPAST a ADJ NOUN TIME.",
    "A NOUN VPRES the ADJ NOUN PREP the NOUN.",
    "VBASE the ADJ NOUN PREP the NOUN.",
    "The NOUN was ADJ and the NOUN was ADJ.",
    "NAME and NAME VPAST the NOUN ADV.",
    "It is EVAL to VBASE a NOUN TIME.",
    "NUM ADJ PLURAL VPAST the NOUN TIME.",
    "The NOUN PREP the NOUN IPAST ADV.",
    "NAME SAID that the NOUN was too ADJ.",
    "POSS ADJ NOUN IPAST PREP the NOUN TIME.",
    "The ADJ NOUN IPRES ADV PREP the NOUN.",
    "POSS NOUN VPAST the NOUN and the ADJ NOUN.",
    "VBASE the NOUN ADV and VBASE the ADJ NOUN.",
    "The ADJ NOUN and the ADJ NOUN IPAST PREP the NOUN.",
    "NAME SAID that the ADJ NOUN VPAST the NOUN TIME.",
    "NUM ADJ PLURAL VPAST the ADJ NOUN PREP the NOUN TIME.",
)

TRAIN_SENTENCE_POOL = 2000  # sentences the train/val/unseen-voice utterances draw from
TEST_SENTENCE_POOL = 300  # sentences spoken only in test_unseen_sentences
MIN_WORDS, MAX_WORDS = 5, 12


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct grammar-made English sentences of 5-12 words, the same for the same seed."""
    rng = random.Random(seed)
    sentences: list[str] = []
    seen: set[str] = set()
    while len(sentences) < n:
        sentence = _fill(rng.choice(TEMPLATES), rng)
        if MIN_WORDS <= len(sentence.split()) <= MAX_WORDS and sentence not in seen:
            seen.add(sentence)
            sentences.append(sentence)
    return sentences


def _fill(template: str, rng: random.Random) -> str:
    slots = {
        "NOUN": lambda: rng.choice(NOUNS),
        "ADJ": lambda: rng.choice(ADJECTIVES),
        "EVAL": lambda: rng.choice(EVALUATIVE),
        "ADV": lambda: rng.choice(ADVERBS),
        "NAME": lambda: rng.choice(NAMES),
        "POSS": lambda: rng.choice(POSSESSIVES),
        "NUM": lambda: rng.choice(NUMBERS),
        "PLURAL": lambda: rng.choice(PLURALS),
        "PREP": lambda: rng.choice(PREPOSITIONS),
        "TIME": lambda: rng.choice(TIMES),
        "SAID": lambda: rng.choice(SAYING),
        "VPAST": lambda: rng.choice(TRANSITIVE)[1],
        "VPRES": lambda: _third_person(rng.choice(TRANSITIVE)[0]),
        "VBASE": lambda: rng.choice(TRANSITIVE)[0],
        "IPAST": lambda: rng.choice(INTRANSITIVE)[1],
        "IPRES": lambda: _third_person(rng.choice(INTRANSITIVE)[0]),
    }
    words = re.sub(r"[A-Z]{2,}", lambda m: slots[m.group()](), template)
    words = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", words)  # a apple -> an apple
    return words[0].upper() + words[1:]


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"

"""hub demo's text row, and the topic-sentence generator the nlp example, tests and
benchmark use (seeded, no downloads).

Topic sentences: four topics with forty words each, mixed with shared function words;
the label is the topic.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

TOPICS = {
    "sport": "goal striker referee stadium league coach match penalty tournament keeper midfield trophy season "
             "champion defender score whistle pitch fans captain athlete racket sprint marathon medal podium "
             "umpire inning wicket batsman dribble tackle offside volley rally serve court dugout jersey relay",
    "food": "recipe oven garlic butter flour sauce onion pepper simmer roast bake dough pastry spice salad "
            "noodle broth kitchen chef grill olive basil cheese tomato lemon honey yogurt vinegar skillet whisk "
            "dessert cookie bread rice soup steak seafood menu appetite flavour",
    "weather": "rain storm cloud thunder forecast breeze drizzle humidity snow frost sunshine temperature wind "
               "gust hail fog blizzard drought monsoon hurricane tornado lightning sleet heatwave chill climate "
               "barometer rainfall puddle umbrella overcast dew mist flood thaw icicle cyclone sky season rainbow",
    "music": "guitar melody chord rhythm drummer concert violin piano lyrics chorus album singer orchestra tempo "
             "bass harmony verse symphony jazz opera trumpet saxophone cello conductor ballad anthem encore "
             "microphone studio playlist band gig tune octave soprano choir vinyl headphones remix",
}
FUNCTION = "the a and with of in on was were is very quite then after before during near every some this that".split()

def topic_sentence(rng: random.Random, topic: str, vocabulary: list[str] | None = None) -> str:
    words = vocabulary or TOPICS[topic].split()
    chosen = [rng.choice(words) for _ in range(rng.randint(4, 8))]
    filler = [rng.choice(FUNCTION) for _ in range(rng.randint(2, 6))]
    sentence = chosen + filler
    rng.shuffle(sentence)
    return " ".join(sentence)


def topic_rows(n: int, seed: int, words_per_topic: int | None = None) -> list[tuple[str, str]]:
    """(text, topic) rows; ``words_per_topic`` limits each topic to its first N words."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topic = rng.choice(sorted(TOPICS))
        vocabulary = TOPICS[topic].split()[:words_per_topic] if words_per_topic else None
        rows.append((topic_sentence(rng, topic, vocabulary), topic))
    return rows


def write_csv(path: Path, rows, columns=("text", "label")) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)



def make_data(folder: Path, seed: int) -> dict:
    """The demo's data: 160 training and 80 validation sentences labelled by topic."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "train.csv", topic_rows(160, seed=seed + 2))
    write_csv(folder / "val.csv", topic_rows(80, seed=seed + 3))
    return {"train": folder / "train.csv", "val": folder / "val.csv",
            "inputs": ["the chef added garlic and butter to the sauce", "thunder and heavy rain all night"]}

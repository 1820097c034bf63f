"""Issue 21: does well-kept morphology beat the matcher's hand-written rules? pymorphy3 (Russian lemmas and
parts of speech) and kiwipiepy (Korean morphemes, it ships its model), each swapped into the matcher in turn,
measured on the phone-casual question sets: accuracy, memory, ms per question.

    .venv/bin/pip install pymorphy3 kiwipiepy      # not project dependencies: only this experiment uses them
    .venv/bin/python -m bench.qa_morph

Each variant runs in its own process (memory is the process's peak RSS after loading the analyser). The
variants change two things: when two words are the same word (Russian: the same lemma; Korean: the same first
content morpheme), and which words of a question count as a detail the event file may not know (Russian:
nouns; Korean: common and proper nouns), instead of the hand-written endings and heuristics.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("rules", "pymorphy3", "kiwipiepy")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _patch(variant: str) -> float:
    """Swap the analyser into domain.qa; returns its load time in seconds."""
    from domain import qa

    t0 = time.perf_counter()
    if variant == "pymorphy3":
        import pymorphy3

        morph = pymorphy3.MorphAnalyzer()
        base_similarity, base_detail = qa.similarity, qa._detail_word

        def lemma(w: str) -> tuple[str, str]:
            p = morph.parse(w)[0]
            return p.normal_form, str(p.tag.POS)

        def similarity(q: str, d: str) -> float:
            if q != d and qa._script(q) == "ru" and qa._script(d) == "ru" and lemma(q)[0] == lemma(d)[0]:
                return 0.95
            return base_similarity(q, d)

        def detail(w: str) -> bool:
            if qa._script(w) == "ru":
                return base_detail(w) and lemma(w)[1] in ("NOUN", "None")
            return base_detail(w)

        qa.similarity, qa._detail_word = similarity, detail  # type: ignore[assignment]  # the variant patched in
    elif variant == "kiwipiepy":
        from kiwipiepy import Kiwi

        kiwi = Kiwi()
        base_similarity, base_detail = qa.similarity, qa._detail_word
        memo: dict[str, list[tuple[str, str]]] = {}

        def morphemes(w: str) -> list[tuple[str, str]]:
            if w not in memo:
                memo[w] = [(t.form, t.tag) for t in kiwi.tokenize(w)]
            return memo[w]

        def stem(w: str) -> str:
            content = [f for f, tag in morphemes(w) if tag[:2] in ("NN", "VV", "VA", "SL", "XR")]
            return content[0] if content else w

        def similarity(q: str, d: str) -> float:
            same = q != d and qa._script(q) == qa._script(d) == "ko" and stem(q) == stem(d)
            return 0.95 if same and len(stem(q)) >= 2 else base_similarity(q, d)

        def detail(w: str) -> bool:
            if qa._script(w) == "ko":
                return not qa.is_stop(w) and any(tag in ("NNG", "NNP") and len(f) >= 2 for f, tag in morphemes(w))
            return base_detail(w)

        qa.similarity, qa._detail_word = similarity, detail  # type: ignore[assignment]  # the variant patched in
    return time.perf_counter() - t0


def run_variant(variant: str) -> None:
    from bench.qa_sets import DATA, LANGS, load_set, run_set, score
    from domain.event import load_event

    before = _rss_mb()
    load = _patch(variant)
    after = _rss_mb()
    conf = load_event(Path(__file__).resolve().parent.parent / "events" / "excom2020.toml")
    line = [f"{variant:10} load {load:5.2f} s, +{after - before:4.0f} MB RSS"]
    for path in sorted(DATA.glob("qa_set*.toml")):
        s = score(asyncio.run(run_set(conf, load_set(path))))
        langs = " ".join(f"{lang} {s[lang]:.1%}" for lang in LANGS)
        line.append(f"{path.stem}: {s['overall']:.1%} ({langs}; wrong times {int(s['wrong_time'])}; "
                    f"p95 {s['p95_ms']:.1f} ms)")
    print(" | ".join(line), flush=True)


def main(argv: list[str]) -> None:
    if argv:
        run_variant(argv[0])
        return
    for variant in VARIANTS:
        subprocess.run([sys.executable, "-m", "bench.qa_morph", variant], check=False)


if __name__ == "__main__":
    main(sys.argv[1:])

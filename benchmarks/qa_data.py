"""A real extractive-QA set from the Python standard library's own documentation, and the
lexical baseline the issue names.

How it is built: each public pure-Python function of the standard library's modules with a
docstring (functions, and the methods of classes as Class.method; packages' submodules too)
becomes an entry ``name(signature)`` followed by its docstring's first paragraph (real
technical prose, written by people). A context is the entries of two functions of the
same module; a question asks about one of them, from two templates whose answer is a span
of the real text:
  returns     "What does NAME return?"              the clause after "Return(s)" in its docstring
  raises      "Which exception does NAME raise?"    the *Error/*Exception its docstring says it raises
Modules are split between train and test (no function is asked about in both), seeded.

Lexical baseline: the sentence of the context sharing the most words with the question (the
question's own template words aside), and in it the span the template gives (the clause after
"Return", the first *Error it raises); the first such span in the
context when that sentence has none.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import warnings

import numpy as np

RETURNS = re.compile(r"\bReturns? (?:an? |the )?([^.;:\n]{3,80}?)(?=[.;:\n]|$)")
RAISES = re.compile(r"\b[Rr]aises?\b[^.]*?\b([A-Z]\w*(?:Error|Exception))\b")
TEMPLATES = {"returns": "What does {name} return?", "raises": "Which exception does {name} raise?"}
TEMPLATE_WORDS = {"what", "does", "return", "which", "exception", "raise"}
SKIP_MODULES = ("antigravity", "this", "idlelib", "tkinter", "turtle", "test", "lib2to3", "ensurepip", "pydoc_data")
SENTENCE = re.compile(r"(?<=[.!?])\s+")


def stdlib_modules() -> list[str]:
    """The standard library's public modules, the submodules of its packages included."""
    names = []
    for info in sorted(pkgutil.iter_modules(), key=lambda i: i.name):
        if info.name.startswith("_") or info.name not in sys.stdlib_module_names or info.name in SKIP_MODULES:
            continue
        names.append(info.name)
        if info.ispkg:
            module = imported(info.name)
            for sub in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{info.name}.",
                                             onerror=lambda name: None):
                if not any(part.startswith("_") or part in SKIP_MODULES for part in sub.name.split(".")):
                    names.append(sub.name)
    return names


def imported(name: str):
    """The module, or None where this platform cannot import it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a module this platform cannot import is left out
        return None


def entries_by_module() -> dict[str, list[str]]:
    """{module: ["name(params)\nfirst paragraph", ...]} of the standard library's documented functions."""
    found = {}
    for name in stdlib_modules():
        module = imported(name)
        if module is None:
            continue
        entries = [entry for name, fn in documented(module) if (entry := describe(name, fn))]
        if len(entries) >= 2:
            found[module.__name__] = entries
    return found


def documented(module) -> list[tuple[str, object]]:
    """(name, function) of the module's public functions and its classes' public methods (Class.method)."""
    found = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            found.append((name, value))
        elif inspect.isclass(value):
            found.extend((f"{name}.{method}", fn) for method, fn in sorted(vars(value).items())
                         if inspect.isfunction(fn) and not method.startswith("_"))
    return found


def describe(name: str, fn) -> str | None:
    doc = inspect.getdoc(fn)
    try:
        signature = str(inspect.signature(fn))
    except (TypeError, ValueError):
        return None
    if not doc:
        return None
    paragraph = " ".join(doc.split("\n\n")[0].split())
    return f"{name}{signature}\n{paragraph[:300]}"


def questions_of(entry: str) -> list[tuple[str, str, int]]:
    """(template, answer, its character offset in the entry) for each template the entry answers."""
    found = []
    name = entry.split("(", 1)[0]
    for template, pattern in (("returns", RETURNS), ("raises", RAISES)):
        match = pattern.search(entry)
        if match and match.group(1).strip() == match.group(1):
            found.append((TEMPLATES[template].format(name=name), match.group(1), match.start(1)))
    return found


def build(seed: int = 0, test_share: float = 0.2) -> tuple[list[dict], list[dict]]:
    """(train rows, test rows) of {question, context, answer_text, answer_start, template}."""
    rng = np.random.default_rng(seed)
    modules = entries_by_module()
    names = sorted(modules)
    test_modules = set(rng.choice(names, size=max(1, int(len(names) * test_share)), replace=False))
    train, test = [], []
    for module in names:
        entries = modules[module]
        for index, entry in enumerate(entries):
            for question, answer, offset in questions_of(entry):
                other = entries[(index + 1 + int(rng.integers(0, len(entries) - 1))) % len(entries)]
                pair = [entry, other] if rng.random() < 0.5 else [other, entry]
                context = "\n\n".join(pair)
                start = offset if pair[0] is entry else len(pair[0]) + 2 + offset
                assert context[start:start + len(answer)] == answer
                row = {"question": question, "context": context, "answer_text": answer, "answer_start": start,
                       "template": "returns" if question.startswith("What does") else "raises"}
                (test if module in test_modules else train).append(row)
    order = rng.permutation(len(train))
    return [train[i] for i in order], test


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if w not in TEMPLATE_WORDS}


def lexical_answer(question: str, context: str) -> str:
    """The baseline's answer: the template's span in the sentence overlapping the question most."""
    pattern = RETURNS if question.startswith("What does") else RAISES
    sentences = [s for block in context.split("\n\n") for s in SENTENCE.split(block)]
    asked = words(question)
    ranked = sorted(sentences, key=lambda s: -len(asked & words(s)))
    for sentence in ranked[:1] + [context]:
        match = pattern.search(sentence)
        if match:
            return match.group(1)
    return ranked[0]

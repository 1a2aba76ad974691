"""Near spellings: the strings one edit away from a word, and query words as the index has them.

A word with one typo (a letter dropped, added, changed, or two neighbours swapped) is one
edit away from the word meant. Rather than compare the query with every indexed term, the
text search lists the few hundred strings one edit away and asks the word index's
vocabulary which of them it holds: an exact lookup per candidate, whatever the corpus size.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Final

__all__ = ["MAX_WORD", "MIN_WORD", "one_edit", "tokens", "words"]

#: Words shorter than this are not respelled: one edit from a three-letter word is another
#: common word more often than a typo.
MIN_WORD: Final = 4
#: Longer words are ids and hashes, found by substring, not respelled.
MAX_WORD: Final = 32
_ALPHABET: Final = string.ascii_lowercase + string.digits
# Letters and digits, as SQLite's unicode61 tokenizer splits text ("vocab_size" is two words).
_WORD: Final = re.compile(r"[^\W_]+", re.UNICODE)


def _fold(text: str) -> str:
    """Lower case without diacritics, as the index stores terms (remove_diacritics 2)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """Every word of ``text`` as an index term, in order, repeats kept."""
    found: list[str] = _WORD.findall(_fold(text))
    return found


def words(text: str) -> list[str]:
    """The distinct words of ``text`` as index terms, in order."""
    return list(dict.fromkeys(tokens(text)))


def one_edit(word: str) -> set[str]:
    """Every string one deletion, transposition, replacement or insertion away from ``word``.

    Replacements and insertions draw on ASCII letters and digits and the word's own
    characters. The word itself is not included.
    """
    alphabet = set(_ALPHABET) | set(word)
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    found: set[str] = set()
    for head, tail in splits:
        if tail:
            found.add(head + tail[1:])
            if len(tail) > 1:
                found.add(head + tail[1] + tail[0] + tail[2:])
            found.update(head + c + tail[1:] for c in alphabet)
        found.update(head + c + tail for c in alphabet)
    found.discard(word)
    return found

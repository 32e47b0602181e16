"""How few predictable pieces a password is made of: keyboard walks, sequences, repeats, words.

A guesser does not try passwords character by character: it tries walks along a keyboard
(``qwertyuiop``, ``1qaz2wsx``, ``asdfghjkl;``), the number pad (``789456123``), runs of
letters or digits with a fixed step (``abcdef``, ``135791``, ``987654``), copies of what came
before (``abcabc``, ``12341234``), common words and years, and chains a few of them. The
password is split into such pieces (dynamic programming over the positions, minimising the
count): each piece counts 1, and so does each character that belongs to none. A password of
12+ characters that comes down to very few pieces is only as strong as those few choices.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

# A password that comes down to this many pieces or fewer is refused.
MAX_PIECES = 4
# Shortest walk, sequence or repeat that counts as one piece (two characters are no cheaper
# than two loose ones).
MIN_RUN = 3
MIN_WORD = 4

# US QWERTY, unshifted, on a slanted grid: key (x, y) touches (x±1, y), (x, y-1), (x+1, y-1),
# (x-1, y+1) and (x, y+1), so "q" touches "1", "2", "w", "a" and "s".
_QWERTY_ROWS = ((0, "`1234567890-="), (1, "qwertyuiop[]\\"), (1, "asdfghjkl;'"), (1, "zxcvbnm,./"))
_SHIFTED = dict(zip('~!@#$%^&*()_+{}|:"<>?', "`1234567890-=[]\\;',./", strict=True))
_SLANTED_STEPS = ((-1, 0), (1, 0), (0, -1), (1, -1), (-1, 1), (0, 1))
# The number pad: every key touches the eight around it ("0" is two keys wide).
_KEYPAD = {"/": [(1, 0)], "*": [(2, 0)], "-": [(3, 0)], "7": [(0, 1)], "8": [(1, 1)], "9": [(2, 1)],
           "+": [(3, 1), (3, 2)], "4": [(0, 2)], "5": [(1, 2)], "6": [(2, 2)], "1": [(0, 3)], "2": [(1, 3)],
           "3": [(2, 3)], "0": [(0, 4), (1, 4)], ".": [(2, 4)]}
# Years a person picks (birth years, this decade's): one piece, not four digits.
_YEARS = frozenset(str(y) for y in range(1900, 2040))


def _neighbours() -> dict[str, frozenset[str]]:
    near: dict[str, set[str]] = {}
    at = {(x0 + i, y): key for y, (x0, row) in enumerate(_QWERTY_ROWS) for i, key in enumerate(row)}
    for (x, y), key in at.items():
        near.setdefault(key, set()).update(at[(x + dx, y + dy)] for dx, dy in _SLANTED_STEPS if (x + dx, y + dy) in at)
    for key, cells in _KEYPAD.items():
        for other, other_cells in _KEYPAD.items():
            if other != key and any(abs(x - u) <= 1 and abs(y - v) <= 1 for x, y in cells for u, v in other_cells):
                near.setdefault(key, set()).add(other)
    for shifted, key in _SHIFTED.items():
        near[shifted] = near[key]
    return {key: frozenset(keys | {s for s, k in _SHIFTED.items() if k in keys}) for key, keys in near.items()}


_NEAR = _neighbours()


def _steps() -> dict[str, int]:
    """The small fixed steps inside the digits or the lower-case letters, by pair ("ac": 2)."""
    steps = {}
    for alphabet in ("0123456789", "abcdefghijklmnopqrstuvwxyz"):
        size = len(alphabet)
        for i, a in enumerate(alphabet):
            for step in (1, 2, size - 1, size - 2):  # wraps: "7890123", "xyzabc"
                steps[a + alphabet[(i + step) % size]] = step
    return steps


_STEPS = _steps()


def _runs(s: str) -> list[int]:
    """For each position, the length of the longest walk, sequence or repeat that starts there.

    A repeat is text that also starts earlier, overlapping allowed ("aaaa" repeats "a")."""
    n = len(s)
    walk, seq = [1] * (n + 1), [1] * (n + 1)
    steps = [_STEPS.get(s[j:j + 2]) for j in range(n)] + [None]
    for j in range(n - 2, -1, -1):
        if s[j + 1] in _NEAR.get(s[j], ()):
            walk[j] = walk[j + 1] + 1
        if steps[j] is not None:
            seq[j] = seq[j + 1] + 1 if steps[j + 1] == steps[j] else 2
    repeat = [0] * (n + 1)
    for j in range(1, n - MIN_RUN + 1):
        # What repeats from j-1 still repeats from j, one shorter: start the search there.
        k = max(MIN_RUN - 1, repeat[j - 1] - 1)
        while j + k < n and s.find(s[j:j + k + 1], 0, j + k) != -1:  # an earlier copy, ending by j+k
            k += 1
        repeat[j] = k if k >= MIN_RUN else 0
    return [max(w, q, r) for w, q, r in zip(walk, seq, repeat, strict=True)]


def _one_run(s: str) -> bool:
    """s is a single walk or sequence from end to end."""
    pairs = range(len(s) - 1)
    if all(s[j + 1] in _NEAR.get(s[j], ()) for j in pairs):
        return True
    step = _STEPS.get(s[:2])
    return step is not None and all(_STEPS.get(s[j:j + 2]) == step for j in pairs)


def fits_in_pieces(s: str, limit: int, words: frozenset[str] = frozenset(), longest_word: int | None = None) -> bool:
    """True when s is made of at most `limit` pieces: walks, sequences and repeats of
    MIN_RUN+ characters, the given words, years, and loose characters.

    Breadth-first over the positions one piece can reach, so a password that is far from
    predictable is given up on after a few positions, whatever its length."""
    n = len(s)
    if limit == 1:  # the whole of s is one piece (the interleaved strands ask this, often)
        return n <= 1 or s in words or s in _YEARS or (n >= MIN_RUN and _one_run(s))
    runs = _runs(s)
    if longest_word is None:
        longest_word = max(map(len, words), default=0)

    def reach(j: int) -> int:  # the furthest end of one walk, sequence or repeat from j
        return j + runs[j]

    reached = bytearray(n + 1)
    reached[0] = 1
    frontier = [0]
    for pieces in range(1, limit + 1):
        if any(j + 1 == n or (n - j >= MIN_RUN and reach(j) >= n) or s[j:] in _YEARS or s[j:] in words
               for j in frontier):
            return True
        if pieces == limit:
            return False
        ends = bytearray(n + 1)
        for j in frontier:
            ends[j + 1] = 1  # a loose character
            if reach(j) >= j + MIN_RUN:
                ends[j + MIN_RUN:reach(j) + 1] = b"\1" * (reach(j) + 1 - j - MIN_RUN)
            if s[j:j + 4] in _YEARS:
                ends[j + 4] = 1
            for end in range(j + MIN_WORD, min(n, j + longest_word) + 1):
                if s[j:end] in words:
                    ends[end] = 1
        frontier = [end for end in range(n) if ends[end] and not reached[end]]
        for end in frontier:
            reached[end] = 1
    return False


@lru_cache(maxsize=1)
def _unshifted_table() -> dict[int, str]:
    return str.maketrans(_SHIFTED)


def is_predictable(lowered: str, words: Iterable[str] = ()) -> bool:
    """True when the (lower-cased) password comes down to MAX_PIECES pieces or fewer, or is
    two to four such patterns interleaved ("q1w2e3r4t5y6", "1qaz2wsx3edc4rfv5tgb").

    Shifted symbols also count as their keys ("!@#$%^" is the sequence "123456")."""
    words = frozenset(words)
    longest = max(map(len, words), default=0)
    for form in dict.fromkeys((lowered, lowered.translate(_unshifted_table()))):
        if fits_in_pieces(form, MAX_PIECES, words, longest):
            return True
        if any(len(form) >= MIN_RUN * stride and _interleaved(form, stride, words, longest) for stride in (2, 3, 4)):
            return True
    return False


def _interleaved(form: str, stride: int, words: frozenset[str], longest: int) -> bool:
    """Every stride-th character makes one piece, for each strand but one that makes two."""
    spare = 1
    for strand in (form[i::stride] for i in range(stride)):
        if not fits_in_pieces(strand, 1, words, longest):
            if not spare or not fits_in_pieces(strand, 2, words, longest):
                return False
            spare = 0
    return True


def shortest_period(s: str) -> int:
    """The length of the shortest unit that, repeated, spells s (len(s) when there is none)."""
    n = len(s)
    for period in range(1, n // 2 + 1):
        if all(s[i] == s[i - period] for i in range(period, n)):
            return period
    return n

"""List, string and matrix task families of `code.python` (see `_blueprint` for what a
family is)."""

from __future__ import annotations

import random
from typing import Any

from palaestra.envs.code._blueprint import TESTS, Blueprint, code, ints, lists, words

# -- lists ------------------------------------------------------------------------------------


def distinct_sorted(rng: random.Random) -> Blueprint:
    descending = rng.random() < 0.5
    order = "descending" if descending else "ascending"
    reference = code(
        """
        def solve(xs: list[int]) -> list[int]:
            return sorted(set(xs), reverse=$descending)
        """,
        descending=descending,
    )
    inputs = [([3, 1, 3, 2],), ([],)] + lists(rng, -50, 50, 40)
    statement = f"Return the distinct values of xs, sorted in {order} order."
    return Blueprint(statement, "def solve(xs: list[int]) -> list[int]:", reference, inputs)


def inversions(rng: random.Random) -> Blueprint:
    factor = rng.choice([1, 1, 2, 3])
    right = "xs[j]" if factor == 1 else f"{factor} * xs[j]"
    reference = code(
        """
        def solve(xs: list[int]) -> int:
            n = len(xs)
            return sum(1 for i in range(n) for j in range(i + 1, n) if xs[i] > $factor * xs[j])
        """,
        factor=factor,
    )
    inputs = [([2, 4, 1, 3, 5],), ([1, 2, 3],)] + lists(rng, 0, 30, 150)
    statement = f"Return the number of index pairs i < j with xs[i] > {right}."
    return Blueprint(statement, "def solve(xs: list[int]) -> int:", reference, inputs)


def max_window(rng: random.Random) -> Blueprint:
    k = rng.choice([0, 2, 3, 5])
    if k == 0:
        statement = (
            "Return the largest sum of a contiguous, non-empty slice of xs (xs is not empty)."
        )
    else:
        statement = f"Return the largest sum of {k} consecutive elements of xs (len(xs) >= {k})."
    reference = code(
        """
        def solve(xs: list[int]) -> int:
            if $k:
                return max(sum(xs[i : i + $k]) for i in range(len(xs) - $k + 1))
            best = current = xs[0]
            for x in xs[1:]:
                current = max(x, current + x)
                best = max(best, current)
            return best
        """,
        k=k,
    )
    inputs = [([1, -2, 3, 4, -1, 2],), ([-3, -1, -2, -5, -4],)]
    inputs += lists(rng, -20, 20, 60, min_len=max(k, 1))
    return Blueprint(statement, "def solve(xs: list[int]) -> int:", reference, inputs)


def increasing_subsequence(rng: random.Random) -> Blueprint:
    strict = rng.random() < 0.5
    kind = "strictly increasing" if strict else "non-decreasing"
    reference = code(
        """
        from bisect import bisect_left, bisect_right

        def solve(xs: list[int]) -> int:
            tails: list[int] = []
            for x in xs:
                i = bisect_left(tails, x) if $strict else bisect_right(tails, x)
                tails[i : i + 1] = [x]
            return len(tails)
        """,
        strict=strict,
    )
    inputs = [([3, 1, 2, 2, 5, 4],), ([],)] + lists(rng, 0, 20, 80)
    statement = f"Return the length of the longest {kind} subsequence of xs."
    return Blueprint(statement, "def solve(xs: list[int]) -> int:", reference, inputs)


def kth_distinct(rng: random.Random) -> Blueprint:
    k = rng.randint(1, 4)
    reference = code(
        """
        def solve(xs: list[int]) -> int:
            values = sorted(set(xs))
            return values[$k - 1] if len(values) >= $k else -1
        """,
        k=k,
    )
    inputs = [([5, 1, 5, 3, 9],), ([7],)] + lists(rng, 0, 12, 8)
    statement = (
        f"Return the {k}-th smallest distinct value of xs (counting from 1), or -1 if xs has "
        f"fewer than {k} distinct values."
    )
    return Blueprint(statement, "def solve(xs: list[int]) -> int:", reference, inputs)


def pair_sums(rng: random.Random) -> Blueprint:
    target = rng.randint(5, 20)
    reference = code(
        """
        def solve(xs: list[int]) -> int:
            seen: dict[int, int] = {}
            pairs = 0
            for x in xs:
                pairs += seen.get($target - x, 0)
                seen[x] = seen.get(x, 0) + 1
            return pairs
        """,
        target=target,
    )
    inputs = [([target - 1, 1, 1, target],), ([],)] + lists(rng, 0, target, 60)
    statement = f"Return the number of index pairs i < j with xs[i] + xs[j] == {target}."
    return Blueprint(statement, "def solve(xs: list[int]) -> int:", reference, inputs)


# -- matrices ---------------------------------------------------------------------------------


def _matrix(rng: random.Random, n: int, high: int) -> list[list[int]]:
    return [ints(rng, n, 0, high) for _ in range(n)]


def matrix_product(rng: random.Random) -> Blueprint:
    m = rng.choice([7, 1000, 1_000_000_007])
    reference = code(
        """
        def solve(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
            n = len(a)
            return [
                [sum(a[i][k] * b[k][j] for k in range(n)) % $m for j in range(n)]
                for i in range(n)
            ]
        """,
        m=m,
    )
    inputs: list[tuple[Any, ...]] = [([[1, 2], [3, 4]], [[5, 6], [7, 8]]), ([[2]], [[3]])]
    for _ in range(TESTS):
        n = rng.randint(1, 5)
        inputs.append((_matrix(rng, n, 10**6), _matrix(rng, n, 10**6)))
    statement = (
        f"a and b are n x n matrices (lists of rows). Return their product a * b with every "
        f"entry taken modulo {m}."
    )
    return Blueprint(
        statement,
        "def solve(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:",
        reference,
        inputs,
    )


def matrix_power_trace(rng: random.Random) -> Blueprint:
    m = rng.choice([1000, 1_000_000_007, 998_244_353])
    reference = code(
        """
        def solve(a: list[list[int]], k: int) -> int:
            n = len(a)

            def mul(x: list[list[int]], y: list[list[int]]) -> list[list[int]]:
                return [
                    [sum(x[i][t] * y[t][j] for t in range(n)) % $m for j in range(n)]
                    for i in range(n)
                ]

            result = [[int(i == j) for j in range(n)] for i in range(n)]
            while k:
                if k & 1:
                    result = mul(result, a)
                a = mul(a, a)
                k >>= 1
            return sum(result[i][i] for i in range(n)) % $m
        """,
        m=m,
    )
    inputs: list[tuple[Any, ...]] = [([[1, 1], [1, 0]], 5), ([[2]], 0)]
    for _ in range(TESTS):
        inputs.append((_matrix(rng, rng.randint(1, 4), 100), rng.randint(0, 10**12)))
    statement = (
        f"a is an n x n matrix (a list of rows) and k >= 0 (k can be as large as 10**12). "
        f"Return the trace (sum of the diagonal) of a to the power k, modulo {m}; a to the "
        "power 0 is the identity."
    )
    return Blueprint(statement, "def solve(a: list[list[int]], k: int) -> int:", reference, inputs)


# -- strings ----------------------------------------------------------------------------------


def _sentences(rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    return [(" ".join(words(rng, rng.randint(1, 8), "abcdefgh")),) for _ in range(count)]


def palindrome(rng: random.Random) -> Blueprint:
    loose = rng.random() < 0.5
    rule = (
        "after keeping only its letters and digits and lowercasing them"
        if loose
        else "exactly as it is (every character counts, case too)"
    )
    reference = code(
        """
        def solve(s: str) -> bool:
            if $loose:
                s = "".join(c.lower() for c in s if c.isalnum())
            return s == s[::-1]
        """,
        loose=loose,
    )
    inputs: list[tuple[Any, ...]] = [("A man, a plan, a canal: Panama",), ("abba",)]
    for _ in range(TESTS):
        half = "".join(rng.choices("abAB1 ,", k=rng.randint(0, 6)))
        middle = rng.choice(["", "x", "X", " "])
        text = half + middle + half[::-1]
        if rng.random() < 0.4:
            text = text + rng.choice("ab!")
        inputs.append((text,))
    statement = f"Return True if s reads the same forwards and backwards {rule}, else False."
    return Blueprint(statement, "def solve(s: str) -> bool:", reference, inputs)


def reverse_words(rng: random.Random) -> Blueprint:
    each = rng.random() < 0.5
    what = (
        "each word reversed in place (the words keep their order)"
        if each
        else "its words in reverse order"
    )
    reference = code(
        """
        def solve(s: str) -> str:
            words = s.split(" ")
            return " ".join(w[::-1] for w in words) if $each else " ".join(reversed(words))
        """,
        each=each,
    )
    inputs = [("the quick brown fox",), ("hello",)] + _sentences(rng, TESTS)
    statement = f"s is made of words separated by single spaces. Return s with {what}."
    return Blueprint(statement, "def solve(s: str) -> str:", reference, inputs)


def run_length(rng: random.Random) -> Blueprint:
    count_first = rng.random() < 0.5
    shape = "the run's length followed by c" if count_first else "c followed by the run's length"
    example = "'3a1b'" if count_first else "'a3b1'"
    reference = code(
        """
        def solve(s: str) -> str:
            out = []
            i = 0
            while i < len(s):
                j = i
                while j < len(s) and s[j] == s[i]:
                    j += 1
                out.append(f"{j - i}{s[i]}" if $count_first else f"{s[i]}{j - i}")
                i = j
            return "".join(out)
        """,
        count_first=count_first,
    )
    inputs: list[tuple[Any, ...]] = [("aaab",), ("",)]
    for _ in range(TESTS):
        runs = [rng.choice("xyz") * rng.randint(1, 12) for _ in range(rng.randint(0, 6))]
        inputs.append(("".join(runs),))
    statement = (
        "Return the run-length encoding of s: each maximal run of one character c becomes "
        f"{shape} (so 'aaab' becomes {example}). s has no digits."
    )
    return Blueprint(statement, "def solve(s: str) -> str:", reference, inputs)


def caesar(rng: random.Random) -> Blueprint:
    shift = rng.randint(1, 25)
    reference = code(
        """
        def solve(s: str) -> str:
            return "".join(
                chr((ord(c) - 97 + $shift) % 26 + 97) if "a" <= c <= "z" else c for c in s
            )
        """,
        shift=shift,
    )
    inputs = [("hello, world!",), ("xyz",)]
    inputs += [("".join(rng.choices("abcxyzAZ !?", k=rng.randint(0, 30))),) for _ in range(TESTS)]
    statement = (
        f"Shift every lowercase letter a-z of s forward by {shift} places in the alphabet "
        "(wrapping from z to a) and leave every other character as it is; return the result."
    )
    return Blueprint(statement, "def solve(s: str) -> str:", reference, inputs)


def brackets(rng: random.Random) -> Blueprint:
    pairs = rng.choice(["()", "()[]", "()[]{}", "()<>"])
    shown = ", ".join(f"'{pairs[i : i + 2]}'" for i in range(0, len(pairs), 2))
    reference = code(
        """
        def solve(s: str) -> bool:
            pairs = $pairs
            closing = {pairs[i + 1]: pairs[i] for i in range(0, len(pairs), 2)}
            stack = []
            for c in s:
                if c in closing:
                    if not stack or stack.pop() != closing[c]:
                        return False
                elif c in pairs:
                    stack.append(c)
            return not stack
        """,
        pairs=pairs,
    )
    inputs: list[tuple[Any, ...]] = [(f"a{pairs[0]}b{pairs[1]}",), (pairs[1] + pairs[0],)]
    for _ in range(TESTS):
        inputs.append((_bracket_text(rng, pairs),))
    statement = (
        f"Return True if the brackets {shown} in s are balanced and properly nested, else "
        "False. Other characters do not matter."
    )
    return Blueprint(statement, "def solve(s: str) -> bool:", reference, inputs)


def _bracket_text(rng: random.Random, pairs: str) -> str:
    out, stack = [], []
    for _ in range(rng.randint(0, 16)):
        choice = rng.random()
        if choice < 0.4:
            i = rng.randrange(0, len(pairs), 2)
            out.append(pairs[i])
            stack.append(pairs[i + 1])
        elif choice < 0.8 and stack:
            out.append(stack.pop())
        else:
            out.append(rng.choice("xy"))
    if rng.random() < 0.5:
        out += reversed(stack)
    if rng.random() < 0.2 and out:
        out[rng.randrange(len(out))] = rng.choice(pairs)
    return "".join(out)


def anagram_groups(rng: random.Random) -> Blueprint:
    largest = rng.random() < 0.5
    what = "the size of the largest group (0 for no words)" if largest else "the number of groups"
    reference = code(
        """
        from collections import Counter

        def solve(words: list[str]) -> int:
            groups = Counter("".join(sorted(w)) for w in words)
            return max(groups.values(), default=0) if $largest else len(groups)
        """,
        largest=largest,
    )
    inputs: list[tuple[Any, ...]] = [(["eat", "tea", "tan", "ate", "nat", "bat"],), ([],)]
    for _ in range(TESTS):
        base = words(rng, rng.randint(1, 5), "abcd", 4)
        items = ["".join(rng.sample(w, len(w))) for w in rng.choices(base, k=rng.randint(0, 12))]
        inputs.append((items,))
    statement = (
        f"Group the words so that two words are in the same group when one is a "
        f"rearrangement of the other's letters. Return {what}."
    )
    return Blueprint(statement, "def solve(words: list[str]) -> int:", reference, inputs)

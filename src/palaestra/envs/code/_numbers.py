"""Number-theory task families of `code.python` (see `_blueprint` for what a family is).

Some statements promise large inputs (``n`` up to 10**12 or more) so that only an
efficient algorithm (fast doubling, inclusion-exclusion, digit counting) passes within
the CPU limit; the hidden tests do use such inputs.
"""

from __future__ import annotations

import math
import random

from palaestra.envs.code._blueprint import TESTS, Blueprint, code, ints, lists

# -- number theory --------------------------------------------------------------------------


def prime_sum(rng: random.Random) -> Blueprint:
    k = rng.choice([1, 2, 3, 4, 6])
    r = rng.choice([x for x in range(k) if math.gcd(x, k) == 1]) if k > 1 else 0
    which = "all primes p < n" if k == 1 else f"all primes p < n with p % {k} == {r}"
    reference = code(
        """
        def solve(n: int) -> int:
            if n < 3:
                return 0
            sieve = bytearray([1]) * n
            sieve[0] = sieve[1] = 0
            for i in range(2, int(n ** 0.5) + 1):
                if sieve[i]:
                    sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
            return sum(p for p in range(n) if sieve[p] and p % $k == $r)
        """,
        k=k,
        r=r,
    )
    inputs = [(10,), (30,), (0,), (2,), (3,)] + [(n,) for n in ints(rng, 7, 4, 200_000)]
    return Blueprint(
        f"Return the sum of {which} (0 if there are none).",
        "def solve(n: int) -> int:",
        reference,
        inputs,
    )


def gcd_lcm(rng: random.Random) -> Blueprint:
    if rng.random() < 0.5:
        statement = "Return the greatest common divisor of the numbers in xs (0 for an empty list)."
        reference = code(
            """
            import math

            def solve(xs: list[int]) -> int:
                return math.gcd(*xs) if xs else 0
            """
        )
        inputs = [([12, 18, 30],), ([7],)]
        for _ in range(TESTS):
            g = rng.randint(1, 50)
            inputs.append(([g * rng.randint(1, 10_000) for _ in range(rng.randint(0, 8))],))
    else:
        m = rng.choice([1_000_000_007, 998_244_353, 10**9, 65_537])
        statement = (
            f"Return the least common multiple of the positive numbers in xs, modulo {m} "
            "(1 for an empty list)."
        )
        reference = code(
            """
            import math

            def solve(xs: list[int]) -> int:
                result = 1
                for x in xs:
                    result = result * x // math.gcd(result, x)
                return result % $m
            """,
            m=m,
        )
        inputs = [([4, 6],), ([2, 3, 5],)] + lists(rng, 1, 10**6, 12)
    return Blueprint(statement, "def solve(xs: list[int]) -> int:", reference, inputs)


def fibonacci_mod(rng: random.Random) -> Blueprint:
    m = rng.choice([10, 1000, 1_000_000_007, 998_244_353, 2**31 - 1])
    statement = (
        f"With F(0) = 0, F(1) = 1 and F(n) = F(n-1) + F(n-2), return F(n) modulo {m}. "
        "n can be as large as 10**12."
    )
    reference = code(
        """
        def solve(n: int) -> int:
            def pair(k: int) -> tuple[int, int]:
                if k == 0:
                    return 0, 1
                a, b = pair(k // 2)
                c = a * (2 * b - a) % $m
                d = (a * a + b * b) % $m
                return (d, (c + d) % $m) if k % 2 else (c, d)
            return pair(n)[0]
        """,
        m=m,
    )
    inputs = [(10,), (1,), (0,), (2,), (90,)] + [(n,) for n in ints(rng, 7, 3, 10**12)]
    return Blueprint(statement, "def solve(n: int) -> int:", reference, inputs)


def digits(rng: random.Random) -> Blueprint:
    base = rng.choice([2, 3, 7, 8, 10, 16])
    count = rng.random() < 0.5
    what = "number of digits" if count else "sum of the digits"
    statement = (
        f"Return the {what} of the non-negative integer n written in base {base} "
        "(0 is written '0')."
    )
    reference = code(
        """
        def solve(n: int) -> int:
            digits = []
            while True:
                digits.append(n % $base)
                n //= $base
                if n == 0:
                    break
            return len(digits) if $count else sum(digits)
        """,
        base=base,
        count=count,
    )
    inputs = [(255,), (0,), (1,)] + [(n,) for n in ints(rng, 9, 2, 10**15)]
    return Blueprint(statement, "def solve(n: int) -> int:", reference, inputs)


def divisors(rng: random.Random) -> Blueprint:
    count = rng.random() < 0.5
    what = "number" if count else "sum"
    statement = f"Return the {what} of the positive divisors of n (n >= 1)."
    reference = code(
        """
        def solve(n: int) -> int:
            found = []
            d = 1
            while d * d <= n:
                if n % d == 0:
                    found.append(d)
                    if d * d != n:
                        found.append(n // d)
                d += 1
            return len(found) if $count else sum(found)
        """,
        count=count,
    )
    inputs = [(12,), (1,), (36,), (97,)] + [(n,) for n in ints(rng, 8, 2, 2_000_000)]
    return Blueprint(statement, "def solve(n: int) -> int:", reference, inputs)


def power_mod(rng: random.Random) -> Blueprint:
    m = rng.choice([13, 1000, 1_000_000_007, 998_244_353])
    statement = f"Return a ** e modulo {m} for a >= 0 and e >= 0 (e can be as large as 10**18)."
    reference = code(
        """
        def solve(a: int, e: int) -> int:
            return pow(a, e, $m)
        """,
        m=m,
    )
    inputs = [(2, 10), (3, 0), (0, 0), (0, 5)]
    inputs += [(rng.randint(0, 10**9), rng.randint(0, 10**18)) for _ in range(8)]
    return Blueprint(statement, "def solve(a: int, e: int) -> int:", reference, inputs)


def count_divisible(rng: random.Random) -> Blueprint:
    a, b = rng.sample([2, 3, 4, 5, 6, 7, 9, 10, 12, 15], 2)
    statement = (
        f"Return how many integers in [1, n] are divisible by {a} or by {b} "
        "(n can be as large as 10**15)."
    )
    reference = code(
        """
        import math

        def solve(n: int) -> int:
            both = $a * $b // math.gcd($a, $b)
            return n // $a + n // $b - n // both
        """,
        a=a,
        b=b,
    )
    inputs = [(20,), (1,), (0,)] + [(n,) for n in ints(rng, 9, 2, 10**15)]
    return Blueprint(statement, "def solve(n: int) -> int:", reference, inputs)


def bit_count_range(rng: random.Random) -> Blueprint:
    k = rng.randint(1, 4)
    statement = (
        f"Return how many integers in [0, n] have exactly {k} ones in their binary "
        "representation (n can be as large as 10**12)."
    )
    reference = code(
        """
        from math import comb

        def solve(n: int) -> int:
            total, ones = 0, 0
            bits = bin(n)[2:]
            for i, bit in enumerate(bits):
                if bit == "1":
                    rest = len(bits) - i - 1
                    if $k - ones >= 0:
                        total += comb(rest, $k - ones)
                    ones += 1
            return total + (1 if ones == $k else 0)
        """,
        k=k,
    )
    inputs = [(5,), (8,), (0,), (1,)] + [(n,) for n in ints(rng, 8, 2, 10**12)]
    return Blueprint(statement, "def solve(n: int) -> int:", reference, inputs)


def lattice_paths(rng: random.Random) -> Blueprint:
    m = rng.choice([1_000_000_007, 998_244_353, 10**6])
    statement = (
        f"Return the number of lattice paths from (0, 0) to (x, y) that move one step right "
        f"or one step up at a time, modulo {m}."
    )
    reference = code(
        """
        from math import comb

        def solve(x: int, y: int) -> int:
            return comb(x + y, x) % $m
        """,
        m=m,
    )
    inputs = [(2, 2), (3, 1), (0, 0), (0, 7)]
    inputs += [(rng.randint(0, 400), rng.randint(0, 400)) for _ in range(8)]
    return Blueprint(statement, "def solve(x: int, y: int) -> int:", reference, inputs)


def collatz(rng: random.Random) -> Blueprint:
    steps = rng.random() < 0.5
    what = (
        "the number of replacements made (0 for n == 1)"
        if steps
        else "the largest value the sequence reaches, n itself included"
    )
    statement = (
        "Starting from n >= 1, repeatedly replace n by n // 2 if it is even and by 3 * n + 1 "
        f"if it is odd, until n == 1. Return {what}."
    )
    reference = code(
        """
        def solve(n: int) -> int:
            count, top = 0, n
            while n != 1:
                n = n // 2 if n % 2 == 0 else 3 * n + 1
                count += 1
                top = max(top, n)
            return count if $steps else top
        """,
        steps=steps,
    )
    inputs = [(6,), (1,), (27,)] + [(n,) for n in ints(rng, 9, 2, 10**6)]
    return Blueprint(statement, "def solve(n: int) -> int:", reference, inputs)


def base_convert(rng: random.Random) -> Blueprint:
    base = rng.choice([2, 5, 8, 12, 16, 36])
    statement = (
        f"Return the non-negative integer n written in base {base}, with digits "
        "0-9 then lowercase a-z, without leading zeros ('0' for zero)."
    )
    reference = code(
        """
        def solve(n: int) -> str:
            symbols = "0123456789abcdefghijklmnopqrstuvwxyz"
            out = ""
            while True:
                out = symbols[n % $base] + out
                n //= $base
                if n == 0:
                    return out
        """,
        base=base,
    )
    inputs = [(255,), (0,), (35,)] + [(n,) for n in ints(rng, 9, 1, 10**18)]
    return Blueprint(statement, "def solve(n: int) -> str:", reference, inputs)

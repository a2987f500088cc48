"""NumPy's ``default_rng(entropy).random()`` in pure Python, draw for draw.

``random`` search seeds a generator per trial with ``(seed, k)`` and draws a few floats from it;
importing NumPy for that costs more CPU than the rest of a short ``pykatib run``'s start-up. This
is the same algorithm (``SeedSequence`` mixing the entropy, then ``PCG64``'s XSL-RR output,
53-bit doubles), so a ``random_state`` keeps giving exactly the assignments it gave with NumPy
(``tests/suggest/test_pcg64.py`` checks them against NumPy's).
"""

from __future__ import annotations

from collections.abc import Sequence

_MASK32 = 0xFFFFFFFF
_MASK64 = (1 << 64) - 1
_MASK128 = (1 << 128) - 1
# numpy/random/bit_generator.pyx (SeedSequence), a pool of 4 32-bit words.
_POOL_SIZE = 4
_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_MULT_L = 0xCA01F9DD
_MIX_MULT_R = 0x4973F715
_XSHIFT = 16
# numpy/random/src/pcg64/pcg64.h: the 128-bit LCG multiplier.
_PCG_MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341


class PCG64:
    """A PCG64 generator seeded as ``numpy.random.default_rng(entropy)`` seeds one."""

    def __init__(self, entropy: Sequence[int]) -> None:
        words = _generate_state(_mix_entropy(_uint32_words(entropy)), 8)
        # generate_state(4, uint64): each 64-bit value is two 32-bit words, low word first.
        seed_hi, seed_lo, inc_hi, inc_lo = (words[i] | (words[i + 1] << 32) for i in range(0, 8, 2))
        self._inc = ((((inc_hi << 64) | inc_lo) << 1) | 1) & _MASK128
        self._state = 0
        self._step()
        self._state = (self._state + ((seed_hi << 64) | seed_lo)) & _MASK128
        self._step()

    def _step(self) -> None:
        self._state = (self._state * _PCG_MULTIPLIER + self._inc) & _MASK128

    def next_uint64(self) -> int:
        self._step()
        high, low = self._state >> 64, self._state & _MASK64
        value, rotation = high ^ low, high >> 58
        return ((value >> rotation) | (value << (64 - rotation))) & _MASK64

    def random(self) -> float:
        """A float in [0, 1), as ``Generator.random()`` draws it."""
        return (self.next_uint64() >> 11) * (1.0 / 9007199254740992.0)


def default_rng(entropy: Sequence[int]) -> PCG64:
    """As ``numpy.random.default_rng(list(entropy))``, for non-negative integers."""
    return PCG64(entropy)


def _uint32_words(entropy: Sequence[int]) -> list[int]:
    """Each integer as its 32-bit words, least significant first (0 is one word)."""
    words: list[int] = []
    for value in entropy:
        if value < 0:
            raise ValueError("entropy must be non-negative integers")
        words.append(value & _MASK32)
        value >>= 32
        while value:
            words.append(value & _MASK32)
            value >>= 32
    return words


def _hashmix(value: int, hash_const: list[int]) -> int:
    value = (value ^ hash_const[0]) & _MASK32
    hash_const[0] = (hash_const[0] * _MULT_A) & _MASK32
    value = (value * hash_const[0]) & _MASK32
    return value ^ (value >> _XSHIFT)


def _mix(x: int, y: int) -> int:
    result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _MASK32
    return result ^ (result >> _XSHIFT)


def _mix_entropy(entropy: list[int]) -> list[int]:
    hash_const = [_INIT_A]
    pool = [_hashmix(entropy[i] if i < len(entropy) else 0, hash_const) for i in range(4)]
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = _mix(pool[dst], _hashmix(pool[src], hash_const))
    for src in range(_POOL_SIZE, len(entropy)):
        for dst in range(_POOL_SIZE):
            pool[dst] = _mix(pool[dst], _hashmix(entropy[src], hash_const))
    return pool


def _generate_state(pool: list[int], n_words: int) -> list[int]:
    hash_const = _INIT_B
    state = []
    for i in range(n_words):
        value = (pool[i % _POOL_SIZE] ^ hash_const) & _MASK32
        hash_const = (hash_const * _MULT_B) & _MASK32
        value = (value * hash_const) & _MASK32
        state.append(value ^ (value >> _XSHIFT))
    return state

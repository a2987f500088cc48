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
# Each hash and mix ends with value ^ (value >> 16) (XSHIFT).
# numpy/random/src/pcg64/pcg64.h: the 128-bit LCG multiplier.
_PCG_MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341


class PCG64:
    """A PCG64 generator seeded as ``numpy.random.default_rng(entropy)`` seeds one."""

    def __init__(self, entropy: Sequence[int]) -> None:
        seed_hi, seed_lo, inc_hi, inc_lo = _generate_state(_mix_entropy(_uint32_words(entropy)))
        self._inc = ((((inc_hi << 64) | inc_lo) << 1) | 1) & _MASK128
        # pcg64_srandom: the state steps from 0 (to inc), takes in the seed, and steps again.
        seed = (seed_hi << 64) | seed_lo
        self._state = ((self._inc + seed) * _PCG_MULTIPLIER + self._inc) & _MASK128

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


def _hash_constants(multiplier: int, start: int, count: int) -> tuple[tuple[int, int], ...]:
    """``SeedSequence``'s hash constants, which step the same whatever is hashed: each hash
    xors in one and multiplies by the next."""
    pairs, constant = [], start
    for _ in range(count):
        following = (constant * multiplier) & _MASK32
        pairs.append((constant, following))
        constant = following
    return tuple(pairs)


# The hashes of entropy of up to 4 words (4 into the pool, 12 mixing it), and of the 8 words of
# generate_state: made once, as seeding a generator per trial is the cost of a random proposal.
_POOL_HASHES = _hash_constants(_MULT_A, _INIT_A, _POOL_SIZE * _POOL_SIZE)
_STATE_HASHES = _hash_constants(_MULT_B, _INIT_B, 8)
# The pool's mixing: every word into every other, in this order.
_MIXES = [(src, dst) for src in range(_POOL_SIZE) for dst in range(_POOL_SIZE) if src != dst]


def _mix_entropy(entropy: list[int]) -> list[int]:
    """The pool: its 4 words hashed in, each mixed into the others, then each further word
    mixed into every one."""
    words = entropy + [0] * (_POOL_SIZE - len(entropy))
    hashes, mixes = _POOL_HASHES, _MIXES
    if len(words) > _POOL_SIZE:
        hashes = _hash_constants(_MULT_A, _INIT_A, _POOL_SIZE * len(words))
        mixes = mixes + [(s, d) for s in range(_POOL_SIZE, len(words)) for d in range(_POOL_SIZE)]
    mask, left, right = _MASK32, _MIX_MULT_L, _MIX_MULT_R  # locals: this runs once a trial
    for i, (xor, mult) in enumerate(hashes[:_POOL_SIZE]):
        value = ((words[i] ^ xor) * mult) & mask
        words[i] = value ^ (value >> 16)
    for (src, dst), (xor, mult) in zip(mixes, hashes[_POOL_SIZE:]):
        value = ((words[src] ^ xor) * mult) & mask
        result = (left * words[dst] - right * (value ^ (value >> 16))) & mask
        words[dst] = result ^ (result >> 16)
    return words[:_POOL_SIZE]


def _generate_state(pool: list[int]) -> list[int]:
    """generate_state(4, uint64): each 64-bit value is two 32-bit words, low word first."""
    words = []
    for word, (xor, mult) in zip(pool * 2, _STATE_HASHES):
        value = ((word ^ xor) * mult) & _MASK32
        words.append(value ^ (value >> 16))
    return [words[i] | (words[i + 1] << 32) for i in range(0, 8, 2)]

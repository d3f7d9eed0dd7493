/// The deterministic, serializable random generator of a training run: xoshiro256** seeded through SplitMix64.
///
/// Why our own: the standard library's generators and `shuffle` may change between Swift releases, and a resumed
/// run must reproduce the interrupted one bit for bit. The whole state is four `UInt64`s (``state``), saved in
/// checkpoints.
///
/// ```swift
/// var random = TrainingRandom(seed: 42)
/// let order = random.permutation(of: 10) // Fisher–Yates
/// ```
public struct TrainingRandom: RandomNumberGenerator, Sendable, Equatable {
    /// The four words of xoshiro256** state (never all zero).
    public private(set) var state: [UInt64]

    /// Seeds the four words with SplitMix64 from `seed` (the seeding the xoshiro authors recommend).
    public init(seed: UInt64) {
        var mix = seed
        var words: [UInt64] = []
        for _ in 0..<4 {
            mix &+= 0x9E37_79B9_7F4A_7C15
            var z = mix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        state = words
    }

    /// Restores a saved ``state``.
    ///
    /// - Throws: ``TrainingError/stateMismatch(reason:)`` unless `state` is four words, not all zero.
    public init(state: [UInt64]) throws(TrainingError) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else {
            throw .stateMismatch(reason: "a random generator state needs 4 words, not all zero (got \(state))")
        }
        self.state = state
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotate(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotate(state[3], 45)
        return result
    }

    /// A uniform integer in `0..<bound` (Lemire's multiply-shift with rejection: no modulo bias).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold { product = next().multipliedFullWidth(by: range) }
        }
        return Int(product.high)
    }

    /// A uniform float in `[0, 1)` from the top 24 bits.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// `0..<count` shuffled by Fisher–Yates: for `i` from `count − 1` down to 1, swap `i` with `nextInt(below: i + 1)`.
    public mutating func permutation(of count: Int) -> [Int] {
        var order = Array(0..<count)
        var i = count - 1
        while i > 0 {
            order.swapAt(i, nextInt(below: i + 1))
            i -= 1
        }
        return order
    }

    @inline(__always)
    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

import Foundation

/// An adaptive binary range coder, LZMA's (the carry handling of `RangeEnc_ShiftLow` in the LZMA SDK), with
/// probabilities that learn like counts: each model's estimate moves by 1/(n + 2) after its n-th bit, down to
/// 1/`RangeModels.limit`, so a model is near the data's frequencies after a few dozen bits and then stays steady
/// (LZMA's fixed 1/32 step cost about 2 % more on archived days, whose statistics do not drift within a day).
///
/// Models live in one flat array of `RangeModels.Slot`; a caller lays out its contexts as offsets into it. A
/// value (`encode(_:value:)`) is its bit length through a 7-level tree of models, the two bits below its leading
/// one through models of that length, and the rest as direct bits: timings spread over a few octaves, and within
/// an octave their low bits are noise that no model predicts.
enum RangeModels {
    /// Probability of a 0 in 15 bits (low half) and how many bits the model has seen (high half).
    typealias Slot = UInt32
    static let initial: Slot = 1 << 14
    /// The slowest step is 1/`limit`.
    static let limit: UInt32 = 62
    /// Slots of one value model: the length tree (128) and three mantissa models for each length 0...64.
    static let valueSlots = 128 + 65 * 4

    @inline(__always)
    static func probability(_ slot: Slot) -> UInt32 { slot & 0xFFFF }

    /// The slot after coding `bit`; the probability stays within 1...32767 (the divisor is at least 2).
    @inline(__always)
    static func update(_ slot: Slot, _ bit: Bool) -> Slot {
        let p = slot & 0xFFFF, n = slot >> 16
        let d = min(n, limit - 2) + 2
        let q = bit ? p - p / d : p + (32768 - p) / d
        return q | min(n + 1, limit) << 16
    }
}

/// Writes bits and values into bytes (`finish`). Not thread-safe: one encoding owns it.
struct RangeEncoder {
    private var out: [UInt8] = []
    private var low: UInt64 = 0
    private var range: UInt32 = 0xFFFF_FFFF
    private var cache: UInt8 = 0
    private var cacheSize = 1
    private var models: [RangeModels.Slot]
    /// When set, each coded bit's cost in bits is added to `costs[field]` (bench/store's breakdown).
    var costs: [Double]?
    var field = 0

    init(models count: Int) {
        models = [RangeModels.Slot](repeating: RangeModels.initial, count: count)
    }

    mutating func encode(_ bit: Bool, model i: Int) {
        let slot = models[i]
        let p = RangeModels.probability(slot)
        if costs != nil { costs![field] -= log2(Double(bit ? 32768 - p : p) / 32768) }
        let bound = (range >> 15) &* p
        if bit {
            low &+= UInt64(bound)
            range &-= bound
        } else {
            range = bound
        }
        models[i] = RangeModels.update(slot, bit)
        while range < 1 << 24 {
            range <<= 8
            shiftLow()
        }
    }

    /// The low `bits` bits of `value`, highest first, each at probability 1/2.
    mutating func encodeDirect(_ value: UInt64, bits: Int) {
        if costs != nil { costs![field] += Double(bits) }
        var k = bits
        while k > 0 {
            k -= 1
            range >>= 1
            if (value >> UInt64(k)) & 1 != 0 { low &+= UInt64(range) }
            while range < 1 << 24 {
                range <<= 8
                shiftLow()
            }
        }
    }

    /// A value through the value model at offset `o` (`RangeModels.valueSlots` slots).
    mutating func encode(_ value: UInt64, value o: Int) {
        let length = 64 - value.leadingZeroBitCount
        var node = 1
        for k in stride(from: 6, through: 0, by: -1) {
            let bit = (length >> k) & 1 != 0
            encode(bit, model: o + node)
            node = node << 1 | (bit ? 1 : 0)
        }
        guard length >= 2 else { return }
        let rest = length - 1, top = min(2, rest)
        node = 1
        for k in 0..<top {
            let bit = (value >> UInt64(rest - 1 - k)) & 1 != 0
            encode(bit, model: o + 128 + length * 4 + node)
            node = node << 1 | (bit ? 1 : 0)
        }
        encodeDirect(value, bits: rest - top)
    }

    private mutating func shiftLow() {
        if UInt32(truncatingIfNeeded: low) < 0xFF00_0000 || low >> 32 != 0 {
            let carry = UInt8(truncatingIfNeeded: low >> 32)
            var byte = cache
            repeat {
                out.append(byte &+ carry)
                byte = 0xFF
                cacheSize -= 1
            } while cacheSize != 0
            cache = UInt8(truncatingIfNeeded: low >> 24)
        }
        cacheSize += 1
        low = UInt64(UInt32(truncatingIfNeeded: low) << 8)
    }

    /// The coded bytes. The first is always 0 (LZMA's layout: the cache starts empty), so it is dropped here and
    /// `RangeDecoder` starts as if it had read it.
    mutating func finish() -> [UInt8] {
        for _ in 0..<5 { shiftLow() }
        return Array(out.dropFirst())
    }
}

/// Reads what `RangeEncoder` wrote, with the same model layout. Reading past the end yields zero bytes and is
/// counted (`overrun`): damaged input decodes to garbage, never out of bounds.
struct RangeDecoder {
    private let data: UnsafeRawBufferPointer
    private var offset = 0
    private var range: UInt32 = 0xFFFF_FFFF
    private var code: UInt32 = 0
    private var models: [RangeModels.Slot]
    /// Bytes read past the end of the input.
    private(set) var overrun = 0
    /// Set when a value's length was impossible (damaged input).
    private(set) var damaged = false

    init(_ data: UnsafeRawBufferPointer, models count: Int) {
        self.data = data
        models = [RangeModels.Slot](repeating: RangeModels.initial, count: count)
        for _ in 0..<4 { code = code << 8 | nextByte() }
    }

    @inline(__always)
    private mutating func nextByte() -> UInt32 {
        defer { offset += 1 }
        guard offset < data.count else {
            overrun += 1
            return 0
        }
        return UInt32(data[offset])
    }

    mutating func decode(model i: Int) -> Bool {
        let slot = models[i]
        let bound = (range >> 15) &* RangeModels.probability(slot)
        let bit: Bool
        if code < bound {
            range = bound
            bit = false
        } else {
            code &-= bound
            range &-= bound
            bit = true
        }
        models[i] = RangeModels.update(slot, bit)
        while range < 1 << 24 {
            range <<= 8
            code = code << 8 | nextByte()
        }
        return bit
    }

    mutating func decodeDirect(bits: Int) -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<bits {
            range >>= 1
            let bit: UInt64 = code >= range ? 1 : 0
            if bit != 0 { code &-= range }
            value = value << 1 | bit
            while range < 1 << 24 {
                range <<= 8
                code = code << 8 | nextByte()
            }
        }
        return value
    }

    mutating func decode(value o: Int) -> UInt64 {
        var node = 1
        for _ in 0..<7 { node = node << 1 | (decode(model: o + node) ? 1 : 0) }
        let length = node - 128
        guard length <= 64 else {
            damaged = true
            return 0
        }
        guard length >= 2 else { return UInt64(length) }
        let rest = length - 1, top = min(2, rest)
        node = 1
        for _ in 0..<top { node = node << 1 | (decode(model: o + 128 + length * 4 + node) ? 1 : 0) }
        let high = UInt64(node - (1 << top)) | 1 << UInt64(top)
        return high << UInt64(rest - top) | decodeDirect(bits: rest - top)
    }
}

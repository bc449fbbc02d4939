import Foundation

/// An adaptive binary range coder, LZMA's (the carry handling of `RangeEnc_ShiftLow` in the LZMA SDK), with
/// probabilities that learn like counts: each model's estimate moves by 1/(n + 2) after its n-th bit, down to
/// 1/`RangeModels.limit`, so a model is near the data's frequencies after a few dozen bits and then stays steady
/// (LZMA's fixed 1/32 step cost about 2 % more on archived days, whose statistics do not drift within a day).
///
/// Models live in one flat table of `RangeModels.Slot`; a caller lays out its contexts as offsets into it. A
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

    /// The slot after coding `bit`; the probability stays within 1...32767 (the divisor is at least 2). The
    /// definition: the coders use `update(_:_:_:)`, which computes the same without dividing.
    static func update(_ slot: Slot, _ bit: Bool) -> Slot {
        let p = slot & 0xFFFF, n = slot >> 16
        let d = min(n, limit - 2) + 2
        let q = bit ? p - p / d : p + (32768 - p) / d
        return q | min(n + 1, limit) << 16
    }

    /// The models of one coding, in memory of their own: the hot loop reads and writes them through a pointer,
    /// with no copy-on-write check or bounds check per bit (an index out of the layout is the caller's bug, as
    /// with any table; the layouts are constants).
    final class Table {
        let slots: UnsafeMutablePointer<Slot>
        /// ceil(2^32 / d) for each count n's divisor d = min(n, limit - 2) + 2: x / d == x * r >> 32 for every
        /// x < 2^15, since the error (under 2^-17) is smaller than the 1/d between x / d and the next whole number.
        /// A division costs 20-40 cycles; a model update is most of a coded bit.
        let reciprocals: UnsafeMutablePointer<UInt64>

        init(count: Int) {
            slots = .allocate(capacity: max(count, 1))
            slots.initialize(repeating: RangeModels.initial, count: max(count, 1))
            reciprocals = .allocate(capacity: Int(limit) + 1)
            for n in 0...limit {
                let d = UInt64(min(n, limit - 2) + 2)
                reciprocals[Int(n)] = ((1 << 32) + d - 1) / d
            }
        }

        deinit {
            slots.deallocate()
            reciprocals.deallocate()
        }
    }

    /// `update`, by multiplication with `Table.reciprocals`; branch-free, as the bits coded are close to random:
    /// the step is (p or 32768 - p) / d, subtracted for a 1 and added for a 0 (negated by the mask).
    @inline(__always)
    static func update(_ slot: Slot, _ bit: Bool, _ reciprocals: UnsafeMutablePointer<UInt64>) -> Slot {
        let p = UInt64(slot & 0xFFFF), n = slot >> 16
        let one = UInt64(0) &- UInt64(bit ? 1 : 0)
        let step = (((p ^ (32768 &- p)) & one ^ (32768 &- p)) &* reciprocals[Int(n)]) >> 32
        return UInt32(truncatingIfNeeded: p &+ ((step ^ one) &- one)) | (n &+ (n < limit ? 1 : 0)) << 16
    }
}

/// Writes bits and values into bytes (`finish`). Not thread-safe: one encoding owns it.
struct RangeEncoder {
    private var out: [UInt8] = []
    private var low: UInt64 = 0
    private var range: UInt32 = 0xFFFF_FFFF
    private var cache: UInt8 = 0
    private var cacheSize = 1
    private let table: RangeModels.Table
    private let models: UnsafeMutablePointer<RangeModels.Slot>, reciprocals: UnsafeMutablePointer<UInt64>
    /// When set, each coded bit's cost in bits is added to `costs[field]` (bench/store's breakdown).
    var costs: [Double]?
    var field = 0

    init(models count: Int) {
        table = RangeModels.Table(count: count)
        models = table.slots
        reciprocals = table.reciprocals
    }

    @inline(__always)
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
        models[i] = RangeModels.update(slot, bit, reciprocals)
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
            low &+= UInt64(range) & (0 &- ((value >> UInt64(k)) & 1))
            if range < 1 << 24 {
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
/// counted (`overrun`): damaged input decodes to garbage, never out of bounds. The caller keeps `data` alive.
struct RangeDecoder {
    /// What a coded bit changes, kept in locals while a value is decoded: stored in `self`, every write of a model
    /// through its pointer (which the compiler must assume may alias them) would store and reload them.
    private struct Position {
        var range: UInt32 = 0xFFFF_FFFF
        var code: UInt32 = 0
        var offset = 0
    }

    private let data: UnsafePointer<UInt8>?
    private let end: Int
    private var position = Position()
    private let table: RangeModels.Table
    private let models: UnsafeMutablePointer<RangeModels.Slot>, reciprocals: UnsafeMutablePointer<UInt64>
    /// Set when a value's length was impossible (damaged input).
    private(set) var damaged = false

    init(_ data: UnsafeRawBufferPointer, models count: Int) {
        self.data = data.baseAddress?.assumingMemoryBound(to: UInt8.self)
        end = data.count
        table = RangeModels.Table(count: count)
        models = table.slots
        reciprocals = table.reciprocals
        var at = position
        for _ in 0..<4 { at.code = at.code << 8 | nextByte(&at) }
        position = at
    }

    /// Bytes read past the end of the input.
    var overrun: Int { max(0, position.offset - end) }

    @inline(__always)
    private func nextByte(_ at: inout Position) -> UInt32 {
        let byte = at.offset < end ? UInt32(data.unsafelyUnwrapped[at.offset]) : 0
        at.offset &+= 1
        return byte
    }

    /// One bit through model `i`, branch-free: whether a bit is 0 or 1 is close to a coin toss for most models.
    @inline(__always)
    private func bit(_ i: Int, _ at: inout Position) -> Bool {
        let slot = models[i]
        let bound = (at.range >> 15) &* RangeModels.probability(slot)
        let bit = at.code >= bound
        let mask = 0 &- UInt32(bit ? 1 : 0)
        at.code &-= bound & mask
        at.range = (bound & ~mask) | ((at.range &- bound) & mask)
        models[i] = RangeModels.update(slot, bit, reciprocals)
        while at.range < 1 << 24 {
            at.range <<= 8
            at.code = at.code << 8 | nextByte(&at)
        }
        return bit
    }

    /// LZMA's `RC_DIRECT_BIT`, branch-free: `code` below `range` after the halving means a 0.
    @inline(__always)
    private func direct(bits: Int, _ at: inout Position) -> UInt64 {
        var value: UInt64 = 0
        var k = bits
        while k > 0 {
            k -= 1
            at.range >>= 1
            at.code &-= at.range
            let below = 0 &- (at.code >> 31)
            at.code &+= at.range & below
            value = value << 1 | UInt64(below &+ 1)
            if at.range < 1 << 24 {
                at.range <<= 8
                at.code = at.code << 8 | nextByte(&at)
            }
        }
        return value
    }

    mutating func decode(model i: Int) -> Bool {
        var at = position
        defer { position = at }
        return bit(i, &at)
    }

    mutating func decodeDirect(bits: Int) -> UInt64 {
        var at = position
        defer { position = at }
        return direct(bits: bits, &at)
    }

    mutating func decode(value o: Int) -> UInt64 {
        var at = position
        defer { position = at }
        // Wrapping arithmetic: node < 256 and length <= 64, so nothing overflows, and no overflow check per bit.
        var node = 1
        for _ in 0..<7 { node = node &<< 1 | (bit(o &+ node, &at) ? 1 : 0) }
        let length = node &- 128
        guard length <= 64 else {
            damaged = true
            return 0
        }
        guard length >= 2 else { return UInt64(length) }
        let rest = length &- 1, top = min(2, rest)
        node = 1
        let mantissa = o &+ 128 &+ length &* 4
        for _ in 0..<top { node = node &<< 1 | (bit(mantissa &+ node, &at) ? 1 : 0) }
        let high = UInt64(node &- (1 &<< top)) | 1 &<< UInt64(top)
        return high &<< UInt64(rest &- top) | direct(bits: rest &- top, &at)
    }
}

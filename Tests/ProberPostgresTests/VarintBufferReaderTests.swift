@testable import ProberPostgres
import ProberStore
import ProberTestSupport
import Testing

/// `Varint.BufferReader` (in place, not generic) reads what the generic `Varint.Reader` reads, and `SummaryCodec`'s
/// slot walk finds the slots the generic reader finds, on well-formed and on damaged bytes.
@Suite struct VarintBufferReaderTests {
    /// Random bytes: varints of every length, with cut-short ones and runs of continuation bytes past 64 bits.
    static func bytes(_ random: inout SeededRandom) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int.random(in: 0...12, using: &random) {
            switch Int.random(in: 0...5, using: &random) {
            case 0: out.append(contentsOf: repeatElement(0xFF, count: Int.random(in: 1...12, using: &random)))
            case 1: out.append(UInt8.random(in: 0...255, using: &random))
            default:
                let bits = Int.random(in: 0...63, using: &random)
                Varint.append(random.next() >> UInt64(bits), to: &out)
            }
        }
        return out
    }

    @Test func readsWhatTheGenericReaderReads() {
        var random = SeededRandom(seed: 64)
        for _ in 0..<2_000 {
            let bytes = Self.bytes(&random)
            var generic = Varint.Reader(bytes)
            bytes.withUnsafeBytes { raw in
                var reader = Varint.BufferReader(raw)
                repeat { // in step: the same value (or nil) and the same offset after it
                    #expect(reader.next() == generic.next(), "\(bytes)")
                    #expect(reader.offset == generic.offset, "\(bytes)")
                } while !reader.isAtEnd
                #expect(generic.offset == bytes.count, "\(bytes)")
            }
        }
    }

    /// The slots as the generic reader walks them (the walk `SummaryCodec.slots` did before it read in place).
    static func genericSlots(_ bytes: [UInt8]) -> [(Int64, [UInt8])] {
        var out: [(Int64, [UInt8])] = []
        var at = 0
        func varint() -> UInt64 {
            var reader = Varint.Reader(bytes[at...])
            defer { at = reader.offset }
            return reader.next() ?? 0
        }
        while at < bytes.count {
            let bucket = Int64(varint()) * PostgresStore.bucket5m
            let length = Int(varint())
            let end = min(at + length, bytes.count)
            out.append((bucket, Array(bytes[at..<end])))
            at = end
        }
        return out
    }

    @Test func walksTheSlotsTheGenericReaderWalks() {
        var random = SeededRandom(seed: 13)
        for _ in 0..<2_000 {
            // Well-formed slots, sometimes cut short or followed by noise.
            var bytes = SummaryCodec.encodeSlots((0..<Int.random(in: 0...4, using: &random)).map { i in
                (Int64(i + 5_900_000) * PostgresStore.bucket5m, ArraySlice((0..<Int.random(in: 0...9, using: &random)).map { UInt8($0) }))
            })
            if Bool.random(using: &random) {
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
            } else if Bool.random(using: &random) {
                bytes += [UInt8.random(in: 0...255, using: &random), 0x7F] // a slot whose length runs past the end
            }
            let expected = Self.genericSlots(bytes)
            #expect(SummaryCodec.slots(bytes).map { ($0.bucket, Array($0.bytes)) }.elementsEqual(expected, by: { $0 == $1 }), "\(bytes)")
        }
    }
}

import Foundation
import ProberCore

extension Store {
    /// What the raw samples' bytes are made of, for bench/store: one line per layout and part, "LAYOUT PART BYTES",
    /// the bytes of a 5-minute block by field (as `SampleBlock.encode` writes them) and of an archived day by
    /// field: in format 2 what the range coder spent on each, in format 1 each column deflated alone (so their sum
    /// is somewhat above the day's whole deflated body); every archived day is encoded in both formats, and
    /// "timing ... ms per probe-day N" lines say what encoding and decoding a day cost in each. Pages, keys and row
    /// headers are not in it: bench/store takes them from SQLite's `dbstat`.
    public func sampleBreakdown() throws -> [String] {
        try read { db in
            var block: [String: Int] = [:], blockSamples = 0, blocks = 0
            let blocksSelect = try db.prepare("SELECT start, data FROM sample_blocks")
            while try blocksSelect.step() {
                let start = blocksSelect.int64(0)
                let samples = blocksSelect.withBlob(1) { SampleBlock.decode($0, start: start) }
                blocks += 1
                blockSamples += samples.count
                for (part, bytes) in Self.blockFieldSizes(samples, start: start) { block[part, default: 0] += bytes }
            }
            blocksSelect.reset()
            var archive: [String: Double] = [:], archiveSamples = 0, days = 0
            var timing: [String: Duration] = [:]
            let clock = ContinuousClock()
            func timed<T>(_ what: String, _ body: () -> T) -> T {
                var result: T?
                timing[what, default: .zero] += clock.measure { result = body() }
                return result!
            }
            let archiveSelect = try db.prepare("SELECT start, data FROM sample_archive")
            while try archiveSelect.step() {
                let start = archiveSelect.int64(0)
                let data = archiveSelect.blob(1)
                let samples = data.withUnsafeBytes { SampleArchive.decode($0, start: start) }
                days += 1
                archiveSamples += samples.count
                archive["stored (the whole row as written)", default: 0] += Double(data.count)
                // The same day in both formats, timed: the comparison with format 1 in one run.
                let current = timed("encode format 2") { SampleArchive.encode(samples, start: start) }
                let deflated = timed("encode format 1") { SampleArchive.encodeDeflated(samples, start: start) }
                _ = timed("decode format 2") { current.withUnsafeBytes { SampleArchive.decode($0, start: start) } }
                _ = timed("decode format 1") { deflated.withUnsafeBytes { SampleArchive.decode($0, start: start) } }
                archive["format 2, whole row", default: 0] += Double(current.count)
                for field in SampleArchive.fieldCosts(samples, start: start) {
                    archive["format 2: \(field.name)", default: 0] += field.bytes
                }
                archive["format 1 (deflated byte planes), whole row", default: 0] += Double(deflated.count)
                for column in SampleArchive.columns(samples, start: start) {
                    archive["format 1: \(column.name), deflated alone", default: 0] += Double(SampleArchive.deflate(column.bytes)?.count ?? column.bytes.count)
                }
            }
            archiveSelect.reset()
            var lines = ["blocks samples \(blockSamples) rows \(blocks)", "archive samples \(archiveSamples) rows \(days)"]
            lines += block.sorted { $0.value > $1.value }.map { "blocks \($0.key) \($0.value)" }
            lines += archive.sorted { $0.key < $1.key }.map { "archive \($0.key) \(String(format: "%.1f", $0.value))" }
            lines += timing.sorted { $0.key < $1.key }.map { key, total in
                let ms = Double(total.components.seconds) * 1e3 + Double(total.components.attoseconds) / 1e15
                return "timing \(key) ms per probe-day \(String(format: "%.2f", days > 0 ? ms / Double(days) : 0))"
            }
            return lines
        }
    }

    /// The bytes of each field of a 5-minute block, following `SampleBlock.encode`.
    private static func blockFieldSizes(_ samples: [RawSample], start: Int64) -> [String: Int] {
        func length(_ v: UInt64) -> Int { max(1, (64 - v.leadingZeroBitCount + 6) / 7) }
        var sizes = ["count": length(UInt64(samples.count)), "flags": samples.count]
        var previous = start, delta: Int64 = 0
        var status: Int64?, bytes: Int64?
        for (i, s) in samples.enumerated() {
            let d = s.ts - previous
            sizes["time", default: 0] += length(i < 2 ? UInt64(bitPattern: d) : Varint.zigzag(d - delta))
            if i > 0 { delta = d }
            previous = s.ts
            if s.reason != 0 { sizes["reason", default: 0] += length(UInt64(s.reason)) }
            if let v = s.status, v != status { sizes["status", default: 0] += length(Varint.zigzag(v)); status = v }
            if let v = s.bytes, v != bytes { sizes["body size", default: 0] += length(Varint.zigzag(v)); bytes = v }
            if s.hasPhases, let encoded = PhaseCodec.encode(s.phases) {
                var reader = Varint.Reader(encoded)
                for name in PhaseCodec.parts + [.total] {
                    let before = reader.offset
                    _ = reader.next()
                    sizes[name.rawValue, default: 0] += reader.offset - before
                }
            }
        }
        return sizes
    }

    /// For bench/store's comparison with a prober of version 12: rewrites every archived day in format 1 (as version
    /// 12 wrote it) and sets the schema version back to 12, which format 2 alone needs. Returns the days rewritten.
    public func rewriteArchiveAsVersion12() throws -> Int {
        try write { db in
            let select = try db.prepare("SELECT rowid, start, data FROM sample_archive")
            var rows: [(Int64, [UInt8])] = []
            while try select.step() {
                let start = select.int64(1)
                let samples = select.withBlob(2) { SampleArchive.decode($0, start: start) }
                rows.append((select.int64(0), SampleArchive.encodeDeflated(samples, start: start)))
            }
            select.reset()
            let update = try db.prepare("UPDATE sample_archive SET data = ?2 WHERE rowid = ?1")
            for (rowid, data) in rows {
                try update.bind(1, rowid)
                try update.bind(2, blob: data)
                try update.run()
                update.reset()
            }
            try db.execute("PRAGMA user_version = 12")
            return rows.count
        }
    }
}

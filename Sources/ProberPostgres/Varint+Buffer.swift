import ProberStore

extension Varint {
    /// `Varint.Reader` over bytes read in place (a binary result's column), not generic.
    ///
    /// From this module the generic reader ran unspecialized, `@inlinable` or not: generic metadata and a value-witness
    /// copy per reader and a call per byte, for the 30,000 summary rows `status` reads at a fleet's size.
    struct BufferReader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(_ bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        /// Whether every byte has been read.
        var isAtEnd: Bool { offset >= bytes.count }

        /// The next varint, as `Varint.Reader.next`: nil at the end, or when the bytes end inside it or it runs past
        /// 64 bits (the bytes read are skipped either way).
        @inline(__always)
        mutating func next() -> UInt64? {
            // Most of what `status` reads (a histogram's index steps and counts) is one byte.
            if offset < bytes.count, case let b = bytes[offset], b & 0x80 == 0 {
                offset += 1
                return UInt64(b)
            }
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.count, shift < 64 {
                let b = bytes[offset]
                offset += 1
                value |= UInt64(b & 0x7F) &<< shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
    }
}

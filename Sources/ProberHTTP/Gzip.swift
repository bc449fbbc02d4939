import CZlib

/// gzip (RFC 1952) through zlib's deflate, in one call over a whole body.
enum Gzip {
    /// `bytes` compressed at `level` (zlib's 1-9; 6 is its default balance), or nil when zlib fails.
    static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8]? {
        var stream = z_stream()
        guard prober_deflate_init_gzip(&stream, level) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
        let status = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out -> Int32 in
                // zlib's `next_in` is not const; deflate never writes through it.
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        output.removeLast(output.count - Int(stream.total_out))
        return output
    }

    /// CRC-32 of `bytes` (zlib's), part of the entity tag.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count))) }
    }
}

/// A streamed body gzipped as it is pulled: each piece of `inner` is deflated as it comes, so the whole body
/// is never held, compressed or not. Level 1: this runs on the listener's thread (where the inner stream is
/// rendered too), and for Prometheus text the fastest level already takes most of the size away.
///
/// `@unchecked Sendable`: the listener calls `next()` from its one thread, and `stream` is touched only there
/// (and in `deinit`).
final class GzipStream: BodyStream, @unchecked Sendable {
    private let inner: any BodyStream
    private var stream = z_stream()
    private var finished = false
    private let ready: Bool

    /// Nil when zlib cannot start (out of memory): the body is then sent as it is.
    init?(_ inner: any BodyStream, level: Int32 = 1) {
        self.inner = inner
        ready = prober_deflate_init_gzip(&stream, level) == Z_OK
        if !ready { return nil }
    }

    deinit { if ready { deflateEnd(&stream) } }

    func next() -> [UInt8]? {
        while !finished {
            let piece = inner.next()
            let out = deflate(piece ?? [], flush: piece == nil ? Z_FINISH : Z_NO_FLUSH)
            if piece == nil { finished = true }
            guard let out else { finished = true; return nil } // zlib failed: end here (the client sees a short gzip stream)
            if !out.isEmpty { return out }
        }
        return nil
    }

    /// Deflates `input` with `flush`, returning everything zlib produced.
    private func deflate(_ input: [UInt8], flush: Int32) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var status = Z_OK
        input.withUnsafeBufferPointer { source in
            // zlib's `next_in` is not const; deflate never writes through it.
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = uInt(source.count)
            repeat {
                buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    status = CZlib.deflate(&stream, flush)
                    output.append(contentsOf: out[0..<(out.count - Int(stream.avail_out))])
                }
            } while status == Z_OK && (stream.avail_out == 0 || stream.avail_in > 0 || (flush == Z_FINISH && status != Z_STREAM_END))
            stream.next_in = nil
        }
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else { return nil }
        return output
    }
}

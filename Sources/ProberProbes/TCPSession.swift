import CCurl
import ProberCore

/// The send/expect half of a TCP probe, after libcurl has connected (CURLOPT_CONNECT_ONLY).
///
/// Engine thread only. The socket stays owned by libcurl (the easy handle stays in the multi until
/// the session ends, because removing it closes the connection); the engine polls it through
/// curl_multi_poll's `extra_fds` and moves bytes with curl_easy_send / curl_easy_recv.
final class TCPSession {
    let socket: curl_socket_t
    let toSend: [UInt8]
    var sent = 0
    let expect: [UInt8]?
    /// What arrived, bounded (the tail is what matters for a substring match).
    var received: [UInt8] = []
    var receivedTotal = 0
    let connectedAt: Int64
    var sentAt: Int64?
    var firstByteAt: Int64?
    /// Why the session failed, once it has ended.
    var failure: Failure?

    static let keep = 64 * 1024
    /// Bytes read per `advance` at most: the engine thread serves every transfer, so a target that
    /// sends without pause gets its turn and then waits for the next poll like the others.
    static let readBudget = 256 * 1024

    init(socket: curl_socket_t, send: String?, expect: String?, connectedAt: Int64) {
        self.socket = socket
        toSend = Array((send ?? "").utf8)
        self.expect = expect.map { Array($0.utf8) }
        self.connectedAt = connectedAt
    }

    enum Step {
        case waitWritable, waitReadable
        /// `deadline` passed before the session could end.
        case expired
        case done(Failure?)
    }

    /// Moves as many bytes as the socket allows now, until `deadline` (monotonic µs) and at most
    /// `readBudget` received.
    ///
    /// The clock is read before every send and receive: a target that never stops sending keeps the
    /// socket readable, so the loop would otherwise run past the deadline for as long as the bytes came.
    func advance(_ easy: CurlEasy, deadline: Int64) -> Step {
        while sent < toSend.count {
            if monotonicMicros() >= deadline { return .expired }
            var n = 0
            let rc = toSend.withUnsafeBytes { raw in curl_easy_send(easy.handle, raw.baseAddress! + sent, raw.count - sent, &n) }
            if rc == CURLE_AGAIN { return .waitWritable }
            guard rc == CURLE_OK else { return .done(Failure(.send, easy.errorText(rc))) }
            sent += n
        }
        if sentAt == nil { sentAt = monotonicMicros() }
        guard let expect else { return .done(nil) }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var budget = TCPSession.readBudget
        while true {
            if monotonicMicros() >= deadline { return .expired }
            if budget <= 0 { return .waitReadable }
            var n = 0
            let rc = buffer.withUnsafeMutableBytes { raw in curl_easy_recv(easy.handle, raw.baseAddress, raw.count, &n) }
            if rc == CURLE_AGAIN { return .waitReadable }
            guard rc == CURLE_OK else { return .done(Failure(.receive, easy.errorText(rc))) }
            if n == 0 {
                return .done(Failure(.mismatch, "connection closed after \(receivedTotal) bytes without \"\(excerpt(expect))\"" + got()))
            }
            if firstByteAt == nil { firstByteAt = monotonicMicros() }
            receivedTotal += n
            budget -= n
            received.append(contentsOf: buffer[0..<n])
            if bytesContain(received, expect) { return .done(nil) }
            if received.count > TCPSession.keep { received.removeFirst(received.count - TCPSession.keep) }
        }
    }

    /// The failure when the deadline passes first.
    func timedOut(after timeout: Duration) -> Failure {
        if let expect, receivedTotal > 0 {
            return Failure(.mismatch, "expected \"\(excerpt(expect))\" within \(Human.latency(microseconds: timeout.microseconds))" + got())
        }
        if sent < toSend.count { return Failure(.timeout, "could not send within \(Human.latency(microseconds: timeout.microseconds))") }
        return Failure(.timeout, "no reply within \(Human.latency(microseconds: timeout.microseconds))")
    }

    private func got() -> String { receivedTotal > 0 ? ", got \"\(excerpt(received))\"" : "" }
}

import CCurl
import Foundation
@testable import ProberProbes
import ProberTestSupport
import Testing

/// The TCP session's read loop against a target that never stops sending.
@Suite struct TCPSessionDeadlineTests {
    /// With bytes already queued on the socket and the deadline passed, the session ends without
    /// reading: the loop used to read for as long as bytes were there, whatever the clock said (up to
    /// 391 ms past the timeout against an endless stream under load).
    @Test func readLoopLooksAtTheClock() throws {
        let (server, easy, socket) = try connectToEndlessStream(queued: 64 * 1024)
        defer { server.stop() }
        let session = TCPSession(socket: socket, send: nil, expect: "never", connectedAt: monotonicMicros())
        let step = session.advance(easy, deadline: monotonicMicros())
        guard case .expired = step else {
            Issue.record("expected .expired, got \(step) after reading \(session.receivedTotal) bytes")
            return
        }
        #expect(session.receivedTotal == 0)
    }

    /// With more queued than one turn's budget and time left, the session reads its budget and yields
    /// the engine thread (it used to read until the socket ran dry, which a fast sender never lets happen).
    @Test func readLoopYieldsAfterItsBudget() throws {
        let (server, easy, socket) = try connectToEndlessStream(queued: TCPSession.readBudget + 64 * 1024)
        defer { server.stop() }
        let session = TCPSession(socket: socket, send: nil, expect: "never", connectedAt: monotonicMicros())
        let step = session.advance(easy, deadline: monotonicMicros() + 60_000_000)
        guard case .waitReadable = step else {
            Issue.record("expected .waitReadable, got \(step) after reading \(session.receivedTotal) bytes")
            return
        }
        #expect(session.receivedTotal <= TCPSession.readBudget + 16 * 1024, "read \(session.receivedTotal) bytes in one turn")
    }

    /// A libcurl CONNECT_ONLY connection to a server that never stops sending, once `queued` bytes wait
    /// unread on its socket.
    private func connectToEndlessStream(queued: Int) throws -> (TestTCPServer, CurlEasy, curl_socket_t) {
        let server = try TestTCPServer(.endless)
        let easy = try #require(CurlEasy())
        easy.set(CURLOPT_URL, "http://127.0.0.1:\(server.port)/")
        easy.set(CURLOPT_CONNECT_ONLY, 1)
        easy.set(CURLOPT_PROXY, "")
        easy.set(CURLOPT_NOSIGNAL, true)
        easy.set(CURLOPT_TIMEOUT_MS, 5_000)
        try #require(curl_easy_perform(easy.handle) == CURLE_OK)
        var socket = prober_socket_bad()
        try #require(prober_easy_getinfo_socket(easy.handle, &socket) == CURLE_OK && socket != prober_socket_bad())
        var size = Int32(4 * queued)
        setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var peek = [UInt8](repeating: 0, count: queued)
        let filled = waitUntil(timeout: .seconds(10)) {
            peek.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) } == queued
        }
        try #require(filled, "the server's bytes never filled the socket")
        return (server, easy, socket)
    }
}

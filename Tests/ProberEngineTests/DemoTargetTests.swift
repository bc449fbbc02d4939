import Foundation
import XCTest
import ProberTestSupport

/// `prober demo-target`, run as `make run` runs it: a real process on a loopback port.
final class DemoTargetTests: XCTestCase {
    func testDemoTargetServesItsPathsAndExitsCleanlyOnSigterm() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: ProberBinary.url.path), "prober binary not built")
        let process = Process()
        process.executableURL = ProberBinary.url
        process.arguments = ["demo-target", "--port", "0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The first line names the port it got.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        let port = try XCTUnwrap(text.split(separator: ":").dropFirst(2).first.flatMap { UInt16($0.prefix { $0.isNumber }) }, text)

        func get(_ path: String) throws -> String {
            try XCTUnwrap(RawClient.exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n"))
        }
        XCTAssertTrue(try get("/catalog").hasPrefix("HTTP/1.1 200 OK"))
        let health = try get("/health")
        XCTAssertTrue(health.hasPrefix("HTTP/1.1 200 OK"), health)
        XCTAssertTrue(health.hasSuffix(#"{"status":"up"}"#), health)
        let orders = try get("/orders")
        XCTAssertTrue(orders.hasPrefix("HTTP/1.1 200 ") || orders.hasPrefix("HTTP/1.1 503 "), orders)
        XCTAssertTrue(try get("/nope").hasPrefix("HTTP/1.1 404 "))
        // /regional fails by client address (make run-fleet's locations a, b, c): in each 240 s, healthy for
        // a minute, then failing for .2, then for .2 and .3, then healthy. Away from a phase's edge, ask as each.
        func failing(at t: Double) -> Set<String> {
            switch t.truncatingRemainder(dividingBy: 240) {
            case 60..<120: ["127.0.0.2"]
            case 120..<180: ["127.0.0.2", "127.0.0.3"]
            default: []
            }
        }
        var now = Date().timeIntervalSince1970
        if failing(at: now) != failing(at: now + 2) { Thread.sleep(forTimeInterval: 2.5); now = Date().timeIntervalSince1970 }
        for client in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.1"] {
            let reply = try XCTUnwrap(RawClient.exchange(port: port, from: client, "GET /regional HTTP/1.1\r\nHost: x\r\n\r\n"))
            let expected = failing(at: now).contains(client) ? "HTTP/1.1 503 " : "HTTP/1.1 200 "
            XCTAssertTrue(reply.hasPrefix(expected), "from \(client) at second \(Int(now) % 240) of the cycle: \(reply)")
        }
        // What the TCP demo probe sends and expects.
        let raw = try XCTUnwrap(RawClient.exchange(port: port, "HEAD / HTTP/1.0\r\n\r\n"))
        XCTAssertTrue(raw.contains("HTTP/1."), raw)

        process.terminate() // SIGTERM
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
    }
}

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
        // What the TCP demo probe sends and expects.
        let raw = try XCTUnwrap(RawClient.exchange(port: port, "HEAD / HTTP/1.0\r\n\r\n"))
        XCTAssertTrue(raw.contains("HTTP/1."), raw)

        process.terminate() // SIGTERM
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
    }
}

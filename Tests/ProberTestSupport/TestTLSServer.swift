import Foundation
import Synchronization

/// Whether the `openssl` command is on PATH (the HTTPS tests skip without it).
public var opensslAvailable: Bool {
    (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        .contains { FileManager.default.isExecutableFile(atPath: "\($0)/openssl") }
}

/// A CA and leaf certificates made with the system `openssl`, in a temporary directory.
public final class TestCertificates: Sendable {
    public let directory: String
    /// PEM of the test CA (use as `tls.ca_file`).
    public let caFile: String

    public struct Leaf: Sendable {
        public var certificate: String
        public var key: String
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    public init() throws {
        directory = try TemporaryDirectory().path
        Self.removeAtExit(directory)
        caFile = directory + "/ca.pem"
        try TestCertificates.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                      "-keyout", directory + "/ca.key", "-out", caFile, "-days", "365", "-subj", "/CN=prober test CA"])
    }

    /// A leaf for 127.0.0.1 and localhost, signed by the CA, valid for `days` from now.
    public func leaf(days: Int, name: String = "leaf") throws -> Leaf {
        let base = directory + "/" + name
        try TestCertificates.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                      "-keyout", base + ".key", "-out", base + ".csr", "-subj", "/CN=localhost"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n".write(toFile: base + ".ext", atomically: true, encoding: .utf8)
        try TestCertificates.openssl(["x509", "-req", "-in", base + ".csr", "-CA", caFile, "-CAkey", directory + "/ca.key",
                                      "-CAcreateserial", "-out", base + ".pem", "-days", "\(days)", "-extfile", base + ".ext"])
        return Leaf(certificate: base + ".pem", key: base + ".key")
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// Test suites keep their certificates in a `static let`, which lives until the process exits: the directories are
    /// removed then, not left in the temporary folder by every run.
    private static let atExit = Mutex<[String]?>(nil)

    private static func removeAtExit(_ directory: String) {
        atExit.withLock { list in
            if list == nil {
                atexit {
                    for path in TestCertificates.atExit.withLock({ $0 ?? [] }) { try? FileManager.default.removeItem(atPath: path) }
                }
            }
            list = (list ?? []) + [directory]
        }
    }

    static func openssl(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl"] + args
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Failure(description: "openssl \(args[0]) failed: \(text)") }
    }
}

/// An HTTPS server: `openssl s_server -www` on a free port (it answers `HTTP/1.0 200 ok` to any GET).
public final class TestTLSServer: Sendable {
    public let port: Int
    private let process: Process
    /// The files `-HTTP` serves, removed by `stop()`.
    private let directory: String?
    public var url: String { "https://127.0.0.1:\(port)/" }

    public convenience init(leaf: TestCertificates.Leaf) throws {
        try self.init(leaf: leaf, mode: ["-www"], directory: nil)
    }

    /// A server answering `GET /NAME` with `responses[NAME]`, a whole HTTP response (`openssl s_server -HTTP`
    /// serves each file of its working directory as written).
    public convenience init(leaf: TestCertificates.Leaf, responses: [String: String]) throws {
        let directory = NSTemporaryDirectory() + "prober-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, response) in responses {
            try response.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        }
        try self.init(leaf: leaf, mode: ["-HTTP"], directory: directory)
    }

    private init(leaf: TestCertificates.Leaf, mode: [String], directory: String?) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl", "s_server", "-accept", "0", "-cert", leaf.certificate, "-key", leaf.key] + mode + ["-naccept", "1000"]
        self.directory = directory
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = Pipe() // s_server reads commands from stdin; keep it open and quiet
        try p.run()
        process = p
        // Wait for the event, not for time: s_server prints `ACCEPT [::]:PORT` once listening.
        var text = ""
        let handle = out.fileHandleForReading
        while !text.contains("\n") || !text.contains("ACCEPT") {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT") }),
              let portText = line.split(separator: ":").last, let port = Int(portText.trimmingCharacters(in: .whitespaces)) else {
            p.terminate()
            throw TestCertificates.Failure(description: "openssl s_server did not start: \(text)")
        }
        self.port = port
    }

    deinit { stop() }

    public func stop() {
        // s_server ignores SIGTERM while blocked in accept here; SIGKILL it.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
}

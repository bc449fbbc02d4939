import Foundation
import ProberTestSupport
import Testing

/// `accept` failing for want of descriptors (EMFILE) must not spin the listener's thread.
///
/// The descriptor limit is process-wide, so it is lowered in a child process: the built `prober demo-target`
/// (an `HTTPListener`) under `ulimit -n`, never in this test process, whose other tests need descriptors.
@Suite struct AcceptBackoffTests {
    @Test func runningOutOfDescriptorsDoesNotSpinAndServingResumesOnceSomeAreFree() throws {
        try #require(FileManager.default.isExecutableFile(atPath: ProberBinary.url.path), "prober binary not built")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"ulimit -n 24 && exec "$0" demo-target --port 0"#, ProberBinary.url.path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let port = try #require(Self.port(fromFirstLineOf: out.fileHandleForReading))
        let pid = process.processIdentifier

        // One request that takes libdispatch's timer path first (/health answers after a delay): libdispatch opens
        // descriptors lazily and traps when it cannot, which would end the child for reasons not the listener's.
        try #require(try RawClient.exchange(port: port, "GET /health HTTP/1.1\r\n\r\n")?.hasPrefix("HTTP/1.1 ") == true)

        // More clients than descriptors left: the listener takes a few, then accept fails with EMFILE
        // while the rest wait in the backlog, so the listening socket stays readable.
        var clients = try (0..<40).map { _ in try RawClient(port: port) }
        try waitUntil("the child to run out of descriptors") { Self.openDescriptors(pid) >= 24 }
        let before = try #require(Self.cpuTicks(pid))
        usleep(1_000_000) // the window the CPU time is measured over
        let after = try #require(Self.cpuTicks(pid))
        let perSecond = Int(sysconf(Int32(_SC_CLK_TCK)))
        #expect(after - before < perSecond / 5, "the listener spun: \(after - before) of \(perSecond) ticks in 1 s")

        // Once the held clients go, descriptors are free again and a new client is served.
        clients.removeAll()
        try waitUntil("a client served after descriptors are freed") {
            (try? RawClient.exchange(port: port, "GET /catalog HTTP/1.1\r\n\r\n"))??.hasPrefix("HTTP/1.1 200 ") == true
        }
    }

    /// The port in the demo target's first line, `demo target on http://127.0.0.1:PORT: ...`.
    private static func port(fromFirstLineOf handle: FileHandle) -> UInt16? {
        var text = ""
        while !text.contains("\n") {
            let data = handle.availableData
            if data.isEmpty { return nil }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let start = text.range(of: "http://127.0.0.1:") else { return nil }
        return UInt16(text[start.upperBound...].prefix { $0.isNumber })
    }

    private static func openDescriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// User and system CPU time of the whole process, in clock ticks (`/proc/PID/stat` fields 14 and 15).
    private static func cpuTicks(_ pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name, which may contain spaces: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }
}

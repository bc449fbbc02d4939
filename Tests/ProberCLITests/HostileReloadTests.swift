import Foundation
import ProberTestSupport
import Testing

/// `prober run` reloading hostile probe files on SIGHUP: the current set keeps running and SIGTERM still
/// stops the daemon (issue 13, items 10 and 17).
@Suite(.timeLimit(.minutes(1)))
struct HostileReloadTests {
    /// An alias bomb used as a key hung Yams inside the SIGHUP handler, so the signal queue never ran the
    /// SIGTERM handler: this test ran into its time limit.
    @Test func anAliasBombOnSIGHUPKeepsTheSetAndSIGTERMStillStops() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        _ = try dir.write("probes/app.yaml", """
            probes:
              - name: app
                http: { url: "\(server.url)/health" }
                interval: 200ms
                timeout: 150ms
            """)
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", dir.path + "/prober.db"], logIn: dir.url)
        defer { daemon.signal(SIGKILL) }
        #expect(server.waitForRequests(2), "\(daemon.output)")

        var bomb = "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        for (previous, name) in zip(names, names.dropFirst()) {
            bomb += "x-\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        _ = try dir.write("probes/bomb.yaml", bomb + "x-key:\n  ? [*i]\n  : v\nprobes: []\n")
        daemon.signal(SIGHUP)
        // "reload failed" is logged before the problems: wait for the problem itself.
        #expect(waitUntil { daemon.output.contains("bomb.yaml:6:14: this file holds more than 250000 values") },
                "\(daemon.output)")
        #expect(daemon.output.contains("reload failed"), "\(daemon.output)")
        let before = server.requests.count
        #expect(server.waitForRequests(before + 2), "the current set keeps running")

        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0, "\(daemon.output)")
    }

    /// A FIFO named `*.yaml` is reported, not opened for a read that waits for a writer.
    @Test func aFIFOOnSIGHUPIsReportedAndSIGTERMStillStops() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        _ = try dir.write("probes/app.yaml", """
            probes:
              - name: app
                http: { url: "\(server.url)/health" }
                interval: 200ms
                timeout: 150ms
            """)
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", dir.path + "/prober.db"], logIn: dir.url)
        defer { daemon.signal(SIGKILL) }
        #expect(server.waitForRequests(2), "\(daemon.output)")

        #expect(mkfifo(dir.path + "/probes/pipe.yaml", 0o600) == 0)
        daemon.signal(SIGHUP)
        #expect(waitUntil { daemon.output.contains("pipe.yaml: this is not a regular file") }, "\(daemon.output)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0, "\(daemon.output)")
    }
}

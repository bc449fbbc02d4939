import ArgumentParser
import Foundation
import ProberCore
import ProberEngine
import ProberHTTP

/// `prober demo-target`: a local service to point the example probes at (`make run` starts it), whose
/// latency and errors drift so probes go healthy, degraded and back without any real service.
struct DemoTarget: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-target",
        abstract: "Serve a local HTTP target whose latency and errors drift (for trying prober).",
        shouldDisplay: false
    )

    @Option(help: "Port to listen on.")
    var port: UInt16 = 18080

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    func run() throws {
        // Signals first, on the main thread, before any other thread exists (see SignalHandling).
        // Exiting closes the sockets; nothing else needs tidying.
        let signals = SignalHandling()
        signals.onTerminate { _ in Foundation.exit(0) }
        signal(SIGPIPE, SIG_IGN)
        let clock = SystemWallClock()
        let listener = try HTTPListener(host: host, port: port) { request, respond in
            let now = Double(clock.now()) / 1_000_000
            let reply = DemoBehaviour.reply(method: request.method, path: request.path, at: now, client: request.client)
            if reply.delayMilliseconds > 0 {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(reply.delayMilliseconds)) {
                    respond(reply.response)
                }
            } else {
                respond(reply.response)
            }
        }
        listener.start()
        // Unbuffered, so `make run` shows it at once even when stdout is not a terminal.
        FileHandle.standardOutput.write(Data(("demo target on http://\(host):\(listener.port): /health (latency drifts 5-400 ms), "
            + "/orders (slow, then failing, one minute in five), /catalog (fast), "
            + "/regional (failing for clients 127.0.0.2, then .2 and .3: `make run-fleet`'s locations a and b)\n").utf8))
        withExtendedLifetime((signals, listener)) { dispatchMain() }
    }
}

/// What the demo target answers, as a pure function of the path and the wall clock (so every run, and
/// every test, sees the same episodes at the same times).
enum DemoBehaviour {
    struct Reply {
        var delayMilliseconds: Int
        var response: ListenerResponse
    }

    /// `/orders` goes through one episode every `cycle` seconds: `slow` seconds of 1-2 s answers, then
    /// `failing` seconds where ~40 % of answers are 503.
    static let cycle = 300.0, episodeStart = 210.0, slow = 30.0, failing = 30.0

    /// `/regional` fails by client address, so `make run-fleet`'s three locations (127.0.0.2, .3, .4) disagree:
    /// in each `regionalCycle`, healthy for a minute, then failing for .2 only (one location: no incident),
    /// then for .2 and .3 (two of three: one incident), then healthy again (it resolves).
    static let regionalCycle = 240.0

    /// The clients `/regional` fails for at `now`.
    static func regionalFailing(at now: Double) -> Set<String> {
        switch now.truncatingRemainder(dividingBy: regionalCycle) {
        case 60..<120: ["127.0.0.2"]
        case 120..<180: ["127.0.0.2", "127.0.0.3"]
        default: []
        }
    }

    static func reply(method: String, path: String, at now: Double, client: String = "") -> Reply {
        let json = "application/json"
        switch path {
        case "/health":
            // A slow sinusoid over three minutes: 5 ms at the trough, 400 ms at the crest.
            let wave = (1 - cos(2 * Double.pi * now.truncatingRemainder(dividingBy: 180) / 180)) / 2
            return Reply(delayMilliseconds: Int(5 + 395 * wave), response: ListenerResponse(status: 200, contentType: json, body: #"{"status":"up"}"#))
        case "/orders":
            let phase = now.truncatingRemainder(dividingBy: cycle)
            let jitter = noise(now)
            if phase >= episodeStart && phase < episodeStart + slow {
                return Reply(delayMilliseconds: 1_000 + Int(1_000 * jitter),
                             response: ListenerResponse(status: 200, contentType: json, body: #"{"orders":[]}"#))
            }
            if phase >= episodeStart + slow && phase < episodeStart + slow + failing && jitter < 0.4 {
                return Reply(delayMilliseconds: 30, response: ListenerResponse(status: 503, contentType: json,
                                                                           body: #"{"error":"order database unavailable"}"#))
            }
            return Reply(delayMilliseconds: 20 + Int(40 * jitter),
                         response: ListenerResponse(status: 200, contentType: json, body: #"{"orders":[{"id":1,"total":"12.50"}]}"#))
        case "/regional":
            if regionalFailing(at: now).contains(client) {
                return Reply(delayMilliseconds: 5, response: ListenerResponse(status: 503, contentType: json,
                                                                          body: #"{"error":"regional link down"}"#))
            }
            return Reply(delayMilliseconds: 5, response: ListenerResponse(status: 200, contentType: json, body: #"{"region":"ok"}"#))
        case "/catalog":
            return Reply(delayMilliseconds: 0, response: ListenerResponse(status: 200, contentType: json, body: #"{"items":["tea","coffee"]}"#))
        case "/":
            return Reply(delayMilliseconds: 0, response: ListenerResponse(status: 200, body: "prober demo target: /health /orders /catalog /regional\n"))
        default:
            return Reply(delayMilliseconds: 0, response: ListenerResponse(status: 404, body: "not found\n"))
        }
    }

    /// A deterministic value in 0..<1 from the time, changing every millisecond.
    static func noise(_ now: Double) -> Double {
        var x = UInt64(max(0, now * 1_000))
        x ^= x >> 33
        x = x &* 0xff51_afd7_ed55_8ccd
        x ^= x >> 33
        x = x &* 0xc4ce_b9fe_1a85_ec53
        x ^= x >> 33
        return Double(x % 1_000_000) / 1_000_000
    }
}

import ArgumentParser
import Dispatch
import Foundation
import ProberConfig
import ProberCore
import ProberProbes

/// `prober once`: run probes one time, now, concurrently (at most `--max-in-flight` at once, as `run`), and print
/// what happened.
struct Once: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "once",
        abstract: "Run probes once, now, and print each result with its phases.",
        discussion: """
            Exit status: 0 when every probe passed, 1 when any failed, 2 on a configuration error.

            EXAMPLES:
              prober once --probes probes
              prober once --probes probes checkout-api payments-db
              prober once --probes probes --json
            """
    )

    @OptionGroup var probesOptions: ProbesOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var inFlight: InFlightOptions

    @Argument(help: ArgumentHelp("Probes to run (default: all).", valueName: "name"))
    var names: [String] = []

    @Option(name: .long, help: ArgumentHelp("Bind every probe's connection to this local IPv4 or IPv6 address (default: the system chooses).",
                                            valueName: "address"))
    var sourceAddress: String?

    func validate() throws {
        if let sourceAddress, let problem = SourceAddress.problem(sourceAddress) {
            FileHandle.standardError.write(Data("prober once: --source-address \(problem)\n".utf8))
            throw ExitCode(2)
        }
    }

    func run() throws {
        let set: ProbeSet
        do {
            set = try ProbeLoader.load(directory: probesOptions.probes)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        let chosen = try select(set.probes)
        for warning in chosen.flatMap(\.securityWarnings) { FileHandle.standardError.write(Data("prober once: warning: \(warning)\n".utf8)) }
        let samples = try runAll(chosen)
        if output.json {
            print(OnceReport.json(chosen, samples))
        } else {
            let nameWidth = chosen.map(\.name.count).max() ?? 0
            var text = ""
            for (spec, sample) in zip(chosen, samples) { text += OnceReport.line(spec, sample, nameWidth: nameWidth) + "\n" }
            print(text, terminator: "")
        }
        if samples.contains(where: { !$0.ok }) { throw ExitCode(1) }
    }

    /// The probes named on the command line, in file order; unknown names are an error with suggestions.
    private func select(_ probes: [ProbeSpec]) throws -> [ProbeSpec] {
        guard !names.isEmpty else { return probes }
        let known = Set(probes.map(\.name))
        var problems: [String] = []
        for name in names where !known.contains(name) {
            let close = Suggest.closeNames(to: name, in: probes.map(\.name))
            problems.append("no probe named \"\(name)\"" + (close.isEmpty ? "" : " (did you mean \(close.map { "\"\($0)\"" }.joined(separator: ", "))?)"))
        }
        if !problems.isEmpty {
            FileHandle.standardError.write(Data(problems.map { "prober once: \($0)\n" }.joined().utf8))
            throw ExitCode(2)
        }
        let wanted = Set(names)
        return probes.filter { wanted.contains($0.name) }
    }

    /// Every check on one engine, at most `--max-in-flight` at once (the rest wait in file order, their timeout
    /// starting when they start); waits for all of them.
    private func runAll(_ specs: [ProbeSpec]) throws -> [Sample] {
        let engine = try CurlEngine(maxConcurrent: inFlight.maxInFlight, sourceAddress: sourceAddress.flatMap(SourceAddress.init))
        let results = SampleSlots(count: specs.count)
        let group = DispatchGroup()
        for (i, spec) in specs.enumerated() {
            group.enter()
            engine.run(spec) { sample in
                results.set(i, sample)
                group.leave()
            }
        }
        group.wait()
        engine.shutdown()
        return results.all
    }
}

/// Samples filled in by the engine thread, read after the group is done.
private final class SampleSlots: @unchecked Sendable { // Safe: every access holds `lock`.
    private let lock = NSLock()
    private var slots: [Sample?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ s: Sample) { lock.lock(); slots[i] = s; lock.unlock() }
    var all: [Sample] { lock.lock(); defer { lock.unlock() }; return slots.map { $0! } }
}

/// How `prober once` shows results.
enum OnceReport {
    /// `12.3 ms`, rounded to the nearest tenth (half away from zero). Integer arithmetic: `String(format:)`
    /// cost more than the check itself at a few thousand lines.
    static func ms(_ us: Int64) -> String {
        let tenths = (us.magnitude + 50) / 100
        return "\(us < 0 ? "-" : "")\(tenths / 10).\(tenths % 10) ms"
    }

    /// `ok      checkout-api  200  total 12.3 ms  dns 0.1 ms  connect 0.2 ms  …`
    static func line(_ spec: ProbeSpec, _ s: Sample, nameWidth: Int) -> String {
        var parts = [s.ok ? "ok    " : "FAILED", spec.name.padding(toLength: max(nameWidth, spec.name.count), withPad: " ", startingAt: 0)]
        if let f = s.failure { parts.append("\(f.reason.rawValue): \(f.message)") }
        if let status = s.status { parts.append("\(status)") }
        var phases: [String] = []
        if let total = s.phases.total { phases.append("total \(ms(total))") }
        for name in Phases.Name.allCases where name != .total {
            if let v = s.phases[name] { phases.append("\(name.rawValue) \(ms(v))") }
        }
        if spec.viaProxy { phases.append("(via proxy: dns, connect and tls are the proxy's)") }
        parts.append(phases.joined(separator: "  "))
        return parts.joined(separator: "  ")
    }

    static func json(_ specs: [ProbeSpec], _ samples: [Sample]) -> String {
        let results: [JSONValue] = zip(specs, samples).map { spec, s in
            var o: [String: JSONValue] = ["name": .string(spec.name), "kind": .string(spec.kind), "target": .string(spec.displayTarget),
                                          "ok": .bool(s.ok), "started_at": .time(s.startedAt)]
            if let f = s.failure { o["reason"] = .string(f.reason.rawValue); o["message"] = .string(f.message) }
            if let v = s.status { o["status"] = JSONValue(v) }
            if let v = s.bytes { o["bytes"] = JSONValue(v) }
            if let v = s.httpVersion { o["http_version"] = .string(v) }
            if let v = s.remoteAddress { o["remote_address"] = .string(v) }
            if let v = s.ipFamily { o["ip_family"] = .string(v.rawValue) }
            if let v = s.certificateExpiry { o["certificate_expiry"] = .time(v * 1_000_000) }
            if let v = s.chainEarliestExpiry { o["chain_earliest_expiry"] = .time(v * 1_000_000) }
            var phases: [String: JSONValue] = [:]
            for name in Phases.Name.allCases { if let v = s.phases[name] { phases[name.rawValue] = JSONValue(v) } }
            o["phases_us"] = .object(phases)
            if spec.viaProxy { o["via_proxy"] = .bool(true) }
            return .object(o)
        }
        let passed = samples.filter(\.ok).count
        return JSONValue.object(["results": .array(results), "passed": JSONValue(passed),
                                 "failed": JSONValue(samples.count - passed)]).pretty
    }
}

extension ProbeSpec {
    /// Whether the probe goes through a proxy (its `proxy:` key): its DNS, connect and TLS phases are then
    /// measured to the proxy, not the target.
    var viaProxy: Bool {
        if case .http(let http) = target { return http.proxy != nil }
        return false
    }
}

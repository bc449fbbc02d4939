// PLACEHOLDER for the `probes` branch: just enough of the probe-file loader to run `prober once`
// and its tests. The real ProberConfig (issue 2) replaces this file at merge; the public signatures
// below (ProbeLoader.load, ConfigErrors, Diagnostic) are the ones it was announced to have.
import Foundation
import ProberCore
import Yams

/// One problem in a probe file.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String
    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = message
    }
    public var description: String { "\(location): \(message)" }
}

/// Every problem found while loading probe files.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

public enum ProbeLoader {
    /// Loads every `*.yaml` / `*.yml` under `directory`.
    public static func load(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ProbeSet {
        var diagnostics: [Diagnostic] = []
        var probes: [ProbeSpec] = []
        var files: [String] = []
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw ConfigErrors([Diagnostic(SourceLocation(file: directory, line: 0, column: 0), "no probes directory")])
        }
        let names = walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            files.append(path)
            do {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                guard let root = try Yams.compose(yaml: text) else { continue }
                var file = FileReader(path: path, environment: environment)
                probes += file.probes(root)
                diagnostics += file.diagnostics
            } catch {
                diagnostics.append(Diagnostic(SourceLocation(file: path, line: 1, column: 1), "\(error)"))
            }
        }
        if names.isEmpty { diagnostics.append(Diagnostic(SourceLocation(file: directory, line: 0, column: 0), "no probe files (*.yaml, *.yml)")) }
        if !diagnostics.isEmpty { throw ConfigErrors(diagnostics) }
        return ProbeSet(probes: probes, files: files)
    }
}

private struct FileReader {
    let path: String
    let environment: [String: String]
    var diagnostics: [Diagnostic] = []

    init(path: String, environment: [String: String]) {
        self.path = path
        self.environment = environment
    }

    func at(_ node: Node) -> SourceLocation {
        SourceLocation(file: path, line: (node.mark?.line ?? 0), column: (node.mark?.column ?? 0))
    }

    mutating func fail(_ node: Node, _ message: String) { diagnostics.append(Diagnostic(at(node), message)) }

    mutating func string(_ node: Node?) -> String? {
        guard let node else { return nil }
        guard let s = node.scalar?.string else { fail(node, "expected a value"); return nil }
        var out = s
        while let r = out.range(of: "${"), let end = out[r.upperBound...].firstIndex(of: "}") {
            let name = String(out[r.upperBound..<end])
            guard let value = environment[name] else { fail(node, "environment variable \(name) is not set"); return nil }
            out.replaceSubrange(r.lowerBound...end, with: value)
        }
        return out
    }

    mutating func duration(_ node: Node?) -> Duration? {
        guard let node, let text = string(node) else { return nil }
        guard let d = Duration(parsing: text) else { fail(node, "bad duration \"\(text)\""); return nil }
        return d
    }

    mutating func probes(_ root: Node) -> [ProbeSpec] {
        let defaults = root["defaults"]
        let interval = duration(defaults?["interval"]) ?? .seconds(30)
        let timeout = duration(defaults?["timeout"]) ?? .seconds(5)
        guard let list = root["probes"]?.sequence else { fail(root, "missing probes"); return [] }
        var out: [ProbeSpec] = []
        for item in list {
            guard let name = string(item["name"]) else { fail(item, "missing name"); continue }
            var target: ProbeSpec.Target
            if let http = item["http"] {
                guard let url = string(http["url"]) else { fail(http, "missing url"); continue }
                var t = HTTPTarget(url: url)
                if let m = string(http["method"]) { t.method = m }
                if let b = string(http["body"]) { t.body = b }
                if let f = http["follow_redirects"]?.bool { t.followRedirects = f }
                if let ip = string(http["ip"]).flatMap(IPFamilyPreference.init(rawValue:)) { t.ip = ip }
                if let headers = http["headers"]?.mapping {
                    for (k, v) in headers { if let key = k.string, let value = string(v) { t.headers.append(Header(name: key, value: value)) } }
                }
                if let tls = http["tls"] {
                    t.tls.caFile = string(tls["ca_file"])
                    t.tls.insecure = tls["insecure"]?.bool ?? false
                }
                if let expect = http["expect"] {
                    if let status = expect["status"] {
                        let elements = status.sequence.map(Array.init) ?? [status]
                        var ranges: [ClosedRange<Int>] = []
                        for e in elements {
                            if let text = string(e), let r = StatusSet.parseElement(text) { ranges.append(r) } else { fail(e, "bad status") }
                        }
                        t.expect.status = StatusSet(ranges)
                    }
                    t.expect.bodyContains = string(expect["body_contains"])
                    t.expect.bodyMatches = string(expect["body_matches"])
                    if let headers = expect["headers"]?.mapping {
                        for (k, v) in headers { if let key = k.string, let value = string(v) { t.expect.headers.append(Header(name: key, value: value)) } }
                    }
                    t.expect.certificateValidFor = duration(expect["certificate_valid_for"])
                }
                target = .http(t)
            } else if let tcp = item["tcp"] {
                guard let host = string(tcp["host"]), let port = tcp["port"]?.int else { fail(tcp, "tcp needs host and port"); continue }
                var t = TCPTarget(host: host, port: port)
                t.send = string(tcp["send"])
                t.expect = string(tcp["expect"])
                target = .tcp(t)
            } else {
                fail(item, "probe \(name) needs http or tcp")
                continue
            }
            out.append(ProbeSpec(name: name, target: target, interval: duration(item["interval"]) ?? interval,
                                 timeout: duration(item["timeout"]) ?? timeout, source: at(item)))
        }
        return out
    }
}

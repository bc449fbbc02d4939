import Foundation

/// One header field as sent or to be sent.
public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One parsed HTTP/1.x request head (a body, if any, is not read).
public struct ListenerRequest: Sendable {
    /// As sent (`GET`, `HEAD`, ...).
    public var method: String
    /// The request target as sent: `/metrics?x=1`.
    public var target: String
    /// The target's path, without the query: `/metrics`.
    public var path: String
    /// The query string without `?`, or nil.
    public var query: String?
    /// `HTTP/1.1` or `HTTP/1.0`.
    public var version: String
    public var headers: [HTTPHeader]

    /// The first value of header `name` (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

extension ListenerRequest {
    /// Parses a request head (request line and headers, up to and including the blank line); nil when malformed.
    init?(head: [UInt8]) {
        // Split on bytes: in a Swift String "\r\n" is one Character, so it would not split on "\n".
        var lines = head.split(separator: 10, omittingEmptySubsequences: false).map { line -> Substring in
            let bytes = line.last == 13 ? line.dropLast() : line
            return Substring(String(decoding: bytes, as: UTF8.self))
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first else { return nil }
        let parts = first.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && ($0.isUppercase || $0 == "-") }),
              !parts[1].isEmpty, parts[2].hasPrefix("HTTP/") else { return nil }
        var headers: [HTTPHeader] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  !line[..<colon].contains(" ") else { return nil }
            headers.append(HTTPHeader(name: String(line[..<colon]),
                                      value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var target = String(parts[1])
        var pathPart = Substring(target)
        if let scheme = pathPart.range(of: "://") {
            // Absolute form: keep from the first slash after the authority.
            let rest = pathPart[scheme.upperBound...]
            pathPart = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
            target = String(pathPart)
        }
        let query = pathPart.firstIndex(of: "?").map { String(pathPart[pathPart.index(after: $0)...]) }
        let path = pathPart.firstIndex(of: "?").map { String(pathPart[..<$0]) } ?? String(pathPart)
        self.init(method: String(parts[0]), target: target, path: path, query: query,
                  version: String(parts[2]), headers: headers)
    }

    /// The index just past the blank line ending the head (`\r\n\r\n` or a bare `\n\n`), searching from `start`.
    static func headEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var i = start
        while i < bytes.count {
            if bytes[i] == 10 {
                if i + 1 < bytes.count, bytes[i + 1] == 10 { return i + 2 }
                if i + 2 < bytes.count, bytes[i + 1] == 13, bytes[i + 2] == 10 { return i + 3 }
            }
            i += 1
        }
        return nil
    }
}

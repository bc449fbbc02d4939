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
    /// The values of a route's `{parameter}` segments, percent-decoded (set by `Router`).
    public var parameters: [String: String] = [:]
    /// The client's IP address as text (`127.0.0.2`, `::1`), empty when unknown (set by the listener).
    public var client: String = ""

    public init(method: String, target: String, path: String, query: String?, version: String, headers: [HTTPHeader]) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
    }

    /// The query's `name=value` pairs, percent-decoded (`+` is a space), in order; a pair that does not
    /// decode is left out.
    public var queryItems: [(name: String, value: String)] {
        guard let query else { return [] }
        return query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let plus = { (s: Substring) in Substring(s.replacingOccurrences(of: "+", with: " ")) }
            guard let name = Self.percentDecoded(plus(parts[0])),
                  let value = Self.percentDecoded(plus(parts.count > 1 ? parts[1] : "")) else { return nil }
            return (name, value)
        }
    }

    /// The first value of query parameter `name`, or nil.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    /// `text` with `%XX` escapes decoded; nil when an escape is malformed or the result is not UTF-8.
    public static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

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

import Foundation
@testable import ProberConfig
import Testing

/// `PlainWebURL` lets the reader skip `URLComponents` for the URLs most files hold. It may decline any URL (the
/// long way then judges it), but a URL it takes must be one the long way takes too.
@Suite("Plain web URLs")
struct PlainWebURLTests {
    /// The long way: what `FileReader.webURL` asks of `URLComponents`, and no control character or space.
    static func longWayAccepts(_ text: String) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              ["http", "https"].contains(scheme.lowercased()),
              let host = components.host, !host.isEmpty else { return false }
        if let port = components.port, !(1...65535).contains(port) { return false }
        return !text.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F }
    }

    @Test(arguments: [
        "https://api.example.com/health?probe=f1-p1", "http://127.0.0.1:8080/", "HTTPS://Example.COM", "http://a",
        "https://shop.example.com/api/v2/items;matrix=1?x=1&y=2#frag", "http://host:1/", "http://host:65535",
        "https://example.com/~user/(1)/*!'$,+=:@", "http://10.0.0.1/?a=b?c", "http://h/#a/b?c",
    ])
    func commonURLsAreTakenOnTheirBytes(_ url: String) {
        #expect(PlainWebURL.matches(url))
        #expect(Self.longWayAccepts(url))
    }

    @Test(arguments: [
        "http://", "https://", "ftp://example.com/", "http:/example.com", "httpx://a", "http://user:pw@host/",
        "http://[::1]:8080/", "http://host:0/", "http://host:65536/", "http://host:/", "http://host:123456/",
        "http://host/a b", "http://host/%20", "http://xn--nxasmq6b.com/", "http://a--b.com/", "http://host/a#b#c",
        "http://hôst/", "http://host/ä", "http://host/a\tb", "http://host\\path", "http://host/{x}", "http://host/a|b",
        "http://host:8a/",
    ])
    func othersGoTheLongWay(_ url: String) {
        #expect(!PlainWebURL.matches(url))
    }

    /// Random URLs built from the bytes that matter: every one taken on its bytes is taken the long way.
    @Test func plainURLsReadAsURLComponentsReadsThem() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["h", "X", "0", "9", ".", "-", "_", "~", ":", "/", "?", "#", "@", "[", "]", "%", "%2F", " ", "!", "$",
                      "&", "'", "(", ")", "*", "+", ",", ";", "=", "|", "{", "^", "\"", "<", "é", "xn--", "65535", "0"]
        let starts = ["http://", "https://", "HTTP://", "hTtPs://", "http:", "http:/"]
        var taken = 0
        for _ in 0..<20_000 {
            var url = starts.randomElement(using: &generator)!
            for _ in 0..<Int.random(in: 0...12, using: &generator) { url += pieces.randomElement(using: &generator)! }
            if PlainWebURL.matches(url) {
                taken += 1
                #expect(Self.longWayAccepts(url), "taken on its bytes, refused the long way: \(url)")
            }
        }
        #expect(taken > 100)
    }
}

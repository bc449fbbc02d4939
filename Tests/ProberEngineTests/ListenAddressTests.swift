import ProberEngine
import Testing

/// What `--listen` accepts, and which addresses count as loopback (beyond it, a token is required).
@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("9464", "127.0.0.1:9464", true),
        ("127.0.0.1:9464", "127.0.0.1:9464", true),
        ("127.8.9.10:1", "127.8.9.10:1", true),
        ("localhost:9464", "localhost:9464", true),
        ("[::1]:9464", "[::1]:9464", true),
        ("[::ffff:127.0.0.1]:9464", "[::ffff:127.0.0.1]:9464", true),
        ("0.0.0.0:9464", "0.0.0.0:9464", false),
        ("[::]:9464", "[::]:9464", false),
        ("10.0.0.1:9464", "10.0.0.1:9464", false),
        ("128.0.0.1:9464", "128.0.0.1:9464", false),
        ("prober.internal:9464", "prober.internal:9464", false),
        ("[::2]:9464", "[::2]:9464", false),
    ])
    func parsesAndClassifies(text: String, address: String, loopback: Bool) throws {
        let parsed = try #require(ListenAddress(text))
        #expect(parsed.description == address)
        #expect(parsed.isLoopback == loopback, "\(text)")
    }

    @Test(arguments: [":9464", "localhost", "localhost:http", "99999", "[::1]", ""])
    func refuses(text: String) {
        #expect(ListenAddress(text) == nil, "\(text)")
    }
}

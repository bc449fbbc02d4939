import Testing
@testable import ProberCore

@Suite("Incident document")
struct IncidentDocumentTests {
    let incident = Incident(id: 7, probe: "checkout-api", serviceID: 1234, title: "Checkout API: checks failing",
                            description: "first", status: .minor, stage: .investigating,
                            createdAt: 1_710_496_800_000_000, updatedAt: 1_710_496_800_000_000, resolvedAt: nil, updates: [])

    @Test("the incident document has the IsDown shape with ISO 8601 millisecond timestamps")
    func document() {
        let doc = IncidentDocument.json(incident).encoded
        #expect(doc.contains(#""created_at":"2024-03-15T10:00:00.000Z""#))
        #expect(doc.contains(#""resolved_at":null"#))
        #expect(doc.contains(#""type":"incidents""#))
        #expect(doc.contains(#""id":"7""#))
    }

    @Test("JSON strings are escaped")
    func escaping() {
        #expect(JSONValue.string("a\"b\\c\n\u{1}").encoded == #""a\"b\\c\n\u0001""#)
    }
}

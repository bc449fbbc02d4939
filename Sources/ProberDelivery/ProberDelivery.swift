/// Incident delivery: the outbox worker and one file per sink (IsDown, webhooks).
enum ProberDelivery {}

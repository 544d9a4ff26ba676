package events

// Decoders and names only tests use (package events and events_test; not
// tests elsewhere). Decode sniffs the CTS and timer payloads and documents
// them; DecodeGitHub names a ping's Ref.Type from the event.

// GitHubTypePing is the Ref.Type of a GitHub ping.
const GitHubTypePing = GitHubTypePrefix + "ping"

// DecodeCTS decodes a FunctionGraph CTS trigger payload {"cts":{...}} as
// Decode does, without sniffing.
func DecodeCTS(payload []byte) (Trigger, error) {
	o, err := parseObject(payload, "")
	if err != nil {
		return Trigger{}, err
	}
	return decodeCTS(o)
}

// DecodeTimer decodes the payload of a FunctionGraph timer trigger as Decode
// does, without sniffing.
func DecodeTimer(payload []byte) (Trigger, error) {
	o, err := parseObject(payload, "")
	if err != nil {
		return Trigger{}, err
	}
	return decodeTimer(o)
}

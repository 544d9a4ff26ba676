package function

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/otc"
)

// Dedupe modes (CBR_DEDUPE): when the function looks a trigger's restore
// point up in CBR before creating it.
const (
	// DedupeLookup looks up before creating any restore point (or part) the
	// attempt did not make itself, so that a redelivery reaching another
	// instance, or arriving after the record expired, creates nothing twice.
	DedupeLookup = "lookup"
	// DedupeOff looks up only before retrying a create whose answer was
	// lost (cbr.ErrAnswerLost); that lookup is never skipped.
	DedupeOff = "off"
)

// nameTagLen is how many hex digits of the key's digest a generated name
// carries; markerLen how many the description's key marker carries.
const (
	nameTagLen = 10
	markerLen  = 24
)

// maxPartSuffix is the longest part suffix ("-p9999") a generated name
// leaves room for, so that naming the parts of a split trigger never cuts
// the key's digest off.
const maxPartSuffix = len("-p9999")

// nameTag is the short form of a trigger's key digest (events.Ref.Digest)
// that generated names end with.
func nameTag(digest string) string { return digest[:nameTagLen] }

// markerOf is the 24 hex digits of ref's key marker (see KeyMarker): the key
// of its Follow. It owns its bytes, so that a Follow kept for days does not
// hold the whole digest.
func markerOf(ref events.Ref) string { return strings.Clone(ref.Digest()[:markerLen]) }

// KeyMarker is the marker of a trigger's key digest (events.Ref.Digest)
// that every description restorepoint sends ends with: it confirms that a
// restore point found by name is the trigger's, also when the event chose
// the name, and it is how restore points restorepoint made are told apart.
func KeyMarker(digest string) string { return "[rp:" + digest[:markerLen] + "]" }

// The brackets of a key marker, as KeyMarker writes them (a test holds
// Marked to every marker KeyMarker makes).
const (
	markerOpen  = "[rp:"
	markerClose = "]"
)

// MarkerOf returns the 24 hex digits of the key marker description ends in
// ("[rp:", 24 lower-case hex digits, "]"), as the description of every
// restore point restorepoint makes does; ok is false when it ends in none.
func MarkerOf(description string) (marker string, ok bool) {
	const n = len(markerOpen) + markerLen + len(markerClose)
	if len(description) < n {
		return "", false
	}
	m := description[len(description)-n:]
	if !strings.HasPrefix(m, markerOpen) || !strings.HasSuffix(m, markerClose) {
		return "", false
	}
	hex := m[len(markerOpen) : n-len(markerClose)]
	for _, c := range []byte(hex) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return hex, true
}

// Marked reports whether description ends in a key marker (MarkerOf): it
// tells the backups restorepoint made from any other, whatever their
// names. Retention touches only those.
func Marked(description string) bool {
	_, ok := MarkerOf(description)
	return ok
}

// withMarker returns desc shortened so that desc, a space and marker fit in
// otc.MaxDescription characters, followed by them.
func withMarker(desc, marker string) string {
	desc = strings.TrimSpace(desc)
	room := otc.MaxDescription - len(marker) - 1
	if utf8.RuneCountInString(desc) > room {
		desc = strings.TrimSpace(string([]rune(desc)[:room]))
	}
	if desc == "" {
		return marker
	}
	return desc + " " + marker
}

// resultNamespace is the UUID namespace of result event ids: the SHA-1 name
// UUID of https://github.com/restorepoint/restorepoint/result in the URL
// namespace.
var resultNamespace = uuid.UUID{0x14, 0xbc, 0x77, 0x54, 0x0a, 0xb0, 0x51, 0xfe, 0xaa, 0x8e, 0x83, 0x54, 0xdf, 0x91, 0xad, 0x71}

// ResultID is the CloudEvent id of the result of type resultType for the
// trigger whose key has digest (events.Ref.Digest): a name-based (version 5)
// UUID of the type and the marker's part of the digest, so that every
// instance answers a trigger under the same id and sinks can deduplicate,
// also for a restore point found in CBR by its marker alone.
func ResultID(digest, resultType string) string {
	return uuid.NewSHA1(resultNamespace, []byte(resultType+"\x00"+digest[:markerLen])).String()
}

// maxLookupPages bounds the pages of one lookup (MaxBackupsLimit each).
const maxLookupPages = 10

// lookup finds the restore point req would create: a backup in req's vault
// whose name is req's name exactly and whose description carries marker,
// in a status that counts as made (not error, deleting or deleted). It
// returns the checkpoint as CBR reads it now, or nil when there is none.
// A failure to ask is returned as it is: the caller must not create then.
func (f *Function) lookup(ctx context.Context, req cbr.VaultBackup, marker string) (*cbr.CheckpointCreate, error) {
	if req.Parameters == nil || req.Parameters.Name == "" {
		return nil, errors.New("look up restore point: the request has no name")
	}
	name := req.Parameters.Name
	for page := range maxLookupPages {
		list, err := f.api.ListBackups(ctx, cbr.BackupQuery{
			VaultID: req.VaultID, Name: name, Limit: cbr.MaxBackupsLimit, Offset: page * cbr.MaxBackupsLimit,
		})
		if err != nil {
			return nil, fmt.Errorf("look up restore point %s: %w", name, err)
		}
		for _, b := range list.Backups {
			if b.Name != name || !strings.Contains(b.Description, marker) || b.Gone() ||
				(b.VaultID != "" && b.VaultID != req.VaultID) || b.CheckpointID == "" {
				continue
			}
			cp, err := f.api.GetCheckpoint(ctx, b.CheckpointID)
			if err != nil {
				return nil, fmt.Errorf("look up restore point %s: read checkpoint %s: %w", name, b.CheckpointID, err)
			}
			return cp, nil
		}
		if len(list.Backups) < cbr.MaxBackupsLimit || (page+1)*cbr.MaxBackupsLimit >= list.Count {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("look up restore point %s: more than %d backups named like it", name, maxLookupPages*cbr.MaxBackupsLimit)
}

// createOnce creates req, or finds it: after a create whose answer was lost
// (cbr.ErrAnswerLost) it looks the restore point up and answers from it,
// and creates again only when it is not there, up to cfg.CreateAttempts
// creates. It never creates after a lookup that failed. found reports that
// the restore point came from the lookup.
func (f *Function) createOnce(ctx context.Context, req cbr.VaultBackup, marker string) (cp *cbr.CheckpointCreate, err error) {
	for attempt := 1; ; attempt++ {
		cp, err = f.api.CreateCheckpoint(ctx, req)
		if err == nil || !errors.Is(err, cbr.ErrAnswerLost) {
			return cp, err
		}
		found, lookErr := f.lookup(ctx, req, marker)
		switch {
		case lookErr != nil:
			return nil, fmt.Errorf("%w; then %w", err, lookErr)
		case found != nil:
			return found, nil
		case attempt >= f.cfg.CreateAttempts || ctx.Err() != nil:
			return nil, err
		}
	}
}

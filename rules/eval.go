package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"

	"github.com/restorepoint/restorepoint/otc"
)

// Match is the rule that matched an input, with its action evaluated.
type Match struct {
	// Rule is the rule's name.
	Rule string
	// Index is the rule's position in the file, from 0.
	Index int
	// Action is what the rule asks for.
	Action Action
}

// Action is a matched rule's action with every expression evaluated; the
// fields the rule does not set are zero.
type Action struct {
	// Type is TypeDeployPre, TypeServerTagged, TypeCheckpointRequested or TypeIgnore.
	Type        string
	ID          string
	Subject     string
	VaultID     string
	Resources   []events.ResourceRef
	Name        string
	Description string
	Incremental *bool
	Wait        bool
	Gate        bool
	Reason      string
}

// Eval tries the rules in file order and returns the first that matches,
// with its action evaluated, or nil when none does. A match expression that
// fails to evaluate (a missing header or field, a type mismatch, its budget
// spent: that one is logged) or yields no bool counts as no match. An action
// field that fails, yields a value of the wrong type or goes over its budget
// is a *failure.FieldError naming the rule and the field (`rule
// "github-production": action.vault_id: ...`; answer it as a failed trigger
// of class invalid). A cancelled ctx stops evaluation with ctx's error.
func (s *Set) Eval(ctx context.Context, in Input) (*Match, error) {
	headers, attributes := in.Headers, in.Attributes
	if headers == nil {
		headers = map[string]string{}
	}
	if attributes == nil {
		attributes = map[string]any{}
	}
	act, err := interpreter.NewActivation(map[string]any{
		"headers":    headers,
		"attributes": attributes,
		"data":       in.Data,
	})
	if err != nil {
		return nil, err
	}
	for _, r := range s.rules {
		val, _, err := r.match.ContextEval(ctx, act)
		if err != nil && ctx.Err() != nil {
			return nil, r.cancelled(ctx)
		}
		if err != nil && overBudget(err) {
			s.logger.LogAttrs(ctx, slog.LevelWarn, "rules: match stopped at its budget, counted as no match",
				slog.String("rule", r.name), slog.Uint64("budget", s.costLimit))
		}
		if err != nil || val != types.True {
			continue
		}
		m := &Match{Rule: r.name, Index: r.index, Action: Action{Type: r.typ}}
		for _, f := range r.fields {
			val, _, err := f.prog.ContextEval(ctx, act)
			if err != nil && ctx.Err() != nil {
				return nil, r.cancelled(ctx)
			}
			if err != nil {
				msg := err.Error()
				if overBudget(err) {
					msg = overBudgetMessage(s.costLimit)
				}
				return nil, (&problem{Rule: r.name, Field: "action." + f.key, Message: msg}).fieldError()
			}
			if err := m.Action.set(f.key, val); err != nil {
				err.Rule = r.name
				return nil, err.fieldError()
			}
		}
		return m, nil
	}
	return nil, nil
}

// cancelled is the error of rule r's evaluation stopped by ctx.
func (r *rule) cancelled(ctx context.Context) error {
	return fmt.Errorf("rule %q: %w", r.name, context.Cause(ctx))
}

// set stores the value of one evaluated action field.
func (a *Action) set(key string, val ref.Val) *problem {
	fail := func(msg string) *problem { return &problem{Field: "action." + key, Message: msg} }
	switch key {
	case "incremental", "wait", "gate":
		b, ok := val.(types.Bool)
		if !ok {
			return fail("must be a bool, got " + typeName(val))
		}
		switch key {
		case "wait":
			a.Wait = bool(b)
		case "gate":
			a.Gate = bool(b)
		default:
			v := bool(b)
			a.Incremental = &v
		}
		return nil
	case "resources":
		refs, err := resources(val)
		if err != nil {
			err.Field = "action.resources" + err.Field
		}
		a.Resources = refs
		if err != nil {
			return err
		}
		return nil
	}
	str, ok := val.(types.String)
	if !ok {
		return fail("must be a string, got " + typeName(val) + " (convert with string(...))")
	}
	s := string(str)
	switch key {
	case "id":
		a.ID = s
	case "subject":
		a.Subject = s
	case "vault_id":
		a.VaultID = s
	case "name":
		a.Name = s
	case "description":
		a.Description = s
	case "reason":
		a.Reason = s
	}
	return nil
}

// resources converts a list of id strings and {id, type, name} maps. Error
// fields are relative: "", "[2]", "[2].type".
func resources(val ref.Val) ([]events.ResourceRef, *problem) {
	list, ok := val.(traits.Lister)
	if !ok || val.Type() != types.ListType {
		return nil, &problem{Message: "must be a list of ids or {id, type, name} maps, got " + typeName(val)}
	}
	n, ok := list.Size().(types.Int)
	if !ok {
		return nil, &problem{Message: "must be a list"}
	}
	if n > events.MaxTriggerResources {
		return nil, &problem{Message: fmt.Sprintf("must hold at most %d resources, got %d", events.MaxTriggerResources, n)}
	}
	refs := make([]events.ResourceRef, 0, int(n))
	for i := types.Int(0); i < n; i++ {
		at := "[" + strconv.Itoa(int(i)) + "]"
		item := list.Get(i)
		switch v := item.(type) {
		case types.String:
			refs = append(refs, events.ResourceRef{ID: string(v), Bare: true})
		case traits.Mapper:
			var r events.ResourceRef
			for _, f := range []struct {
				key string
				dst *string
			}{{"id", &r.ID}, {"type", &r.Type}, {"name", &r.Name}} {
				fv, found := v.Find(types.String(f.key))
				if !found {
					continue
				}
				s, ok := fv.(types.String)
				if !ok {
					return nil, &problem{Field: at + "." + f.key, Message: "must be a string, got " + typeName(fv)}
				}
				*f.dst = string(s)
			}
			refs = append(refs, r)
		default:
			return nil, &problem{Field: at, Message: "must be an id string or an {id, type, name} map, got " + typeName(item)}
		}
	}
	return refs, nil
}

func typeName(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	if types.IsError(v) {
		return "an error"
	}
	return v.Type().TypeName()
}

// maxIDLength bounds the id and the subject a rule sets, in bytes.
const maxIDLength = 256

// Trigger turns the match into a trigger, built on base (see Input.Base):
// the trigger keeps base's Ref, Time, DryRun and TraceParent, with Ref.ID
// replaced by the action's id and Ref.Subject by its subject when the rule
// sets them.
//
//   - deploy.pre: DeployPre with Service = subject, else base's Ref.Subject,
//     else the rule's name; Version and Environment from base.DeployPre when
//     it has one (a built-in decoder's trigger); vault_id, resources, name,
//     description, incremental and wait from the action.
//   - server.tagged: ServerTagged for the one resource in resources (its id
//     and name), with vault_id and wait. No tags: the function's tag-based
//     planning applies to it as to any server.tagged trigger.
//   - checkpoint.requested: a CBR request body {"vault_id", "parameters":
//     {"name", "description", "incremental", "resources" (bare ids),
//     "resource_details" (maps)}}, with wait.
//   - ignore: KindIgnored with the reason.
//
// A value the trigger cannot take (an id that is no UUID, an unknown
// resource type, more resources than allowed, a name outside the CBR
// contract [A-Za-z0-9_-]{1,64}, a description over 255 characters, an empty
// reason) is a *failure.FieldError naming the rule and the field: answer
// 400 (class invalid).
func (m *Match) Trigger(base events.Trigger) (events.Trigger, error) {
	a := m.Action
	fail := func(field, msg string) (events.Trigger, error) {
		return events.Trigger{}, (&problem{Rule: m.Rule, Field: "action." + field, Message: msg}).fieldError()
	}
	t := events.Trigger{Ref: base.Ref, Time: base.Time, DryRun: base.DryRun, TraceParent: base.TraceParent,
		Gate: base.Gate || a.Gate, Review: base.Review}
	if a.ID != "" {
		if len(a.ID) > maxIDLength || !otc.Printable(a.ID) {
			return fail("id", fmt.Sprintf("must be printable text of at most %d bytes", maxIDLength))
		}
		// The rule composes the key: its own namespace, so that it never
		// spells the key of a sender's own delivery.
		t.Ref.ID, t.Ref.Sender = a.ID, events.SenderRule
		if base.Ref.Sender != "" {
			t.Ref.Sender += "/" + base.Ref.Sender
		}
	}
	if a.Subject != "" {
		if len(a.Subject) > maxIDLength || !otc.Printable(a.Subject) {
			return fail("subject", fmt.Sprintf("must be printable text of at most %d bytes", maxIDLength))
		}
		t.Ref.Subject = a.Subject
	}
	if t.Ref.Source == "" {
		t.Ref.Source = DefaultRefSource
	}
	if t.Ref.ID == "" {
		return fail("id", "required: the event carries no id of its own")
	}
	if a.VaultID != "" && !otc.IsUUID(a.VaultID) {
		return fail("vault_id", otc.UUIDRule)
	}
	for i, r := range a.Resources {
		at := "resources[" + strconv.Itoa(i) + "]"
		if r.Bare {
			if !otc.IsUUID(r.ID) {
				return fail(at, otc.UUIDRule)
			}
			continue
		}
		switch {
		case r.ID == "":
			return fail(at+".id", "required, a UUID")
		case !otc.IsUUID(r.ID):
			return fail(at+".id", otc.UUIDRule)
		case r.Type == "" && a.Type != TypeServerTagged:
			return fail(at+".type", otc.ResourceTypeRule)
		case r.Type != "" && !otc.ValidResourceType(r.Type):
			return fail(at+".type", otc.ResourceTypeRule)
		}
		if rule := otc.TextRule(r.Name, otc.MaxResourceName); rule != "" {
			return fail(at+".name", rule)
		}
	}
	if a.Name != "" && !otc.ValidName(a.Name) {
		return fail("name", otc.NameRule)
	}
	if rule := otc.TextRule(a.Description, otc.MaxDescription); rule != "" {
		return fail("description", rule)
	}

	switch a.Type {
	case TypeIgnore:
		if strings.TrimSpace(a.Reason) == "" {
			return fail("reason", "required, a non-blank string")
		}
		t.Kind, t.IgnoreReason = events.KindIgnored, a.Reason
	case TypeDeployPre:
		d := &events.DeployPre{
			Service:     t.Ref.Subject,
			Resources:   a.Resources,
			VaultID:     a.VaultID,
			Incremental: a.Incremental,
			Wait:        a.Wait,
			Name:        a.Name,
			Description: a.Description,
		}
		if a.Subject != "" {
			d.Service = a.Subject
		}
		if strings.TrimSpace(d.Service) == "" {
			d.Service = m.Rule
		}
		if base.DeployPre != nil {
			d.Version, d.Environment = base.DeployPre.Version, base.DeployPre.Environment
		}
		if d.Resources == nil {
			d.Resources = []events.ResourceRef{}
		}
		t.Kind, t.DeployPre = events.KindDeployPre, d
	case TypeServerTagged:
		if len(a.Resources) != 1 {
			return fail("resources", fmt.Sprintf("must name exactly one server, got %d", len(a.Resources)))
		}
		r := a.Resources[0]
		if r.Type != "" && r.Type != otc.TypeServer {
			return fail("resources[0].type", "must be "+otc.TypeServer+" for server.tagged")
		}
		t.Kind = events.KindServerTagged
		t.ServerTagged = &events.ServerTagged{ServerID: r.ID, ServerName: r.Name, VaultID: a.VaultID, Wait: a.Wait}
	case TypeCheckpointRequested:
		if a.VaultID == "" {
			return fail("vault_id", "required, a UUID")
		}
		body, err := requestBody(a)
		if err != nil {
			return fail("resources", err.Error())
		}
		t.Kind = events.KindCheckpointRequested
		t.CheckpointRequested = &events.CheckpointRequested{Body: body, Wait: a.Wait}
	default:
		return fail("type", fmt.Sprintf("unknown type %q", a.Type))
	}
	return t, nil
}

// requestBody builds the inner create-checkpoint body of a checkpoint.requested action.
func requestBody(a Action) (json.RawMessage, error) {
	type detail struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Name string `json:"name,omitempty"`
	}
	type params struct {
		Description     string   `json:"description,omitempty"`
		Incremental     *bool    `json:"incremental,omitempty"`
		Name            string   `json:"name,omitempty"`
		Resources       []string `json:"resources,omitempty"`
		ResourceDetails []detail `json:"resource_details,omitempty"`
	}
	var p params
	p.Description, p.Incremental, p.Name = a.Description, a.Incremental, a.Name
	for _, r := range a.Resources {
		if r.Bare {
			p.Resources = append(p.Resources, r.ID)
		} else {
			p.ResourceDetails = append(p.ResourceDetails, detail{ID: r.ID, Type: r.Type, Name: r.Name})
		}
	}
	body := struct {
		VaultID    string  `json:"vault_id"`
		Parameters *params `json:"parameters,omitempty"`
	}{VaultID: a.VaultID}
	if p.Description != "" || p.Incremental != nil || p.Name != "" || len(a.Resources) > 0 {
		body.Parameters = &p
	}
	return json.Marshal(body)
}

// Evaluate maps one payload to a trigger with the rules: h are its HTTP
// headers (nil for an SQS, SNS or EventBridge body) and body its bytes. rule
// is the name of the rule that matched, or "" when none did (then t and err
// are zero, and the built-in decoders apply). When a rule matched but its
// action failed to evaluate or made an invalid trigger, err is a
// *failure.FieldError naming the rule and the field (class invalid), and t
// carries the payload's Ref (Input.Base) so that the failed result names it;
// a cancelled ctx gives ctx's error. It is the interface the front doors
// use (handler.Rules), so that nothing else depends on CEL.
func (s *Set) Evaluate(ctx context.Context, h http.Header, body []byte) (t events.Trigger, rule string, err error) {
	in := NewInput(h, body)
	m, err := s.Eval(ctx, in)
	if err == nil && m == nil {
		return events.Trigger{}, "", nil
	}
	base := in.Base()
	if err != nil {
		name := ""
		if m != nil {
			name = m.Rule
		}
		var fe *failure.FieldError
		if errors.As(err, &fe) {
			name = ruleOf(fe)
		}
		return events.Trigger{Ref: base.Ref, Time: base.Time, TraceParent: base.TraceParent, Review: base.Review}, name, err
	}
	t, err = m.Trigger(base)
	if err != nil {
		return events.Trigger{Ref: base.Ref, Time: base.Time, TraceParent: base.TraceParent, Review: base.Review}, m.Rule, err
	}
	return t, m.Rule, nil
}

// ruleOf returns the rule a problem's field names (`rule "x": ...`), or "?".
func ruleOf(fe *failure.FieldError) string {
	rest, ok := strings.CutPrefix(fe.Field, "rule ")
	if !ok {
		return "?"
	}
	if name, err := strconv.QuotedPrefix(rest); err == nil {
		if s, err := strconv.Unquote(name); err == nil {
			return s
		}
	}
	return "?"
}

package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestFunctionGraphTerraform parses deploy/functiongraph/*.tf and checks
// the example against what restorepoint reads and what the provider's
// documentation names: every environment variable the function is given
// (user_data) is one restorepoint reads, the function is a custom runtime
// event function from the zip, with an agency allowed cbr:vaults:backup and
// cbr:backups:list, and a CTS trigger and two TIMER triggers (the nightly
// restore point, the follow pass: TestFunctionGraphFollowTimer) invoke it.
// No test applies it.
func TestFunctionGraphTerraform(t *testing.T) {
	resources, _ := terraformResources(t)
	for typ := range resources {
		switch typ {
		case "opentelekomcloud_fgs_function_v2", "opentelekomcloud_fgs_trigger_v2",
			"opentelekomcloud_identity_role_v3", "opentelekomcloud_identity_agency_v3":
		default:
			t.Errorf("resource type %s is not one the example is checked against", typ)
		}
	}

	fns := resources["opentelekomcloud_fgs_function_v2"]
	if len(fns) != 1 {
		t.Fatalf("%d functions, want 1", len(fns))
	}
	var fn *hclsyntax.Block
	for _, b := range fns {
		fn = b
	}
	for attr, want := range map[string]string{"runtime": "Custom", "code_type": "zip", "handler": "bootstrap", "app": "default"} {
		if got := literal(t, fn, attr); got != want {
			t.Errorf("function %s = %q, want %q", attr, got, want)
		}
	}
	for _, attr := range []string{"name", "memory_size", "timeout", "func_code", "code_filename", "agency"} {
		if fn.Body.Attributes[attr] == nil {
			t.Errorf("function has no %s", attr)
		}
	}

	// user_data = jsonencode({...}): the function's environment.
	ud, ok := fn.Body.Attributes["user_data"]
	if !ok {
		t.Fatal("function has no user_data (its environment variables)")
	}
	call, ok := ud.Expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "jsonencode" || len(call.Args) != 1 {
		t.Fatal("user_data is not jsonencode({...})")
	}
	obj, ok := call.Args[0].(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatal("user_data is not jsonencode of an object")
	}
	reads := configEnvNames()
	set := map[string]string{}
	for _, item := range obj.Items {
		name := hcl.ExprAsKeyword(item.KeyExpr)
		if name == "" {
			v, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String {
				t.Fatalf("user_data key is not a name: %v", diags)
			}
			name = v.AsString()
		}
		if !reads[name] {
			t.Errorf("user_data sets %s, which restorepoint does not read", name)
		}
		if v, diags := item.ValueExpr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
			set[name] = v.AsString()
		} else {
			set[name] = "(expression)"
		}
	}
	if set["FUNCTIONGRAPH_MODE"] != "event" || set["CBR_AUTH"] != "functiongraph" {
		t.Errorf("user_data %v: want FUNCTIONGRAPH_MODE=event and CBR_AUTH=functiongraph", set)
	}

	var actions []string
	for _, role := range resources["opentelekomcloud_identity_role_v3"] {
		for _, st := range role.Body.Blocks {
			if st.Type == "statement" {
				v, diags := st.Body.Attributes["action"].Expr.Value(nil)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				for it := v.ElementIterator(); it.Next(); {
					_, a := it.Element()
					actions = append(actions, a.AsString())
				}
			}
		}
	}
	for _, want := range []string{"cbr:vaults:backup", "cbr:backups:list"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the agency's role does not allow %s (actions %v)", want, actions)
		}
	}
	if len(resources["opentelekomcloud_identity_agency_v3"]) != 1 {
		t.Error("no agency")
	}

	var types []string
	for _, trig := range resources["opentelekomcloud_fgs_trigger_v2"] {
		types = append(types, literal(t, trig, "type"))
		for _, attr := range []string{"function_urn", "event_data"} {
			if trig.Body.Attributes[attr] == nil {
				t.Errorf("trigger has no %s", attr)
			}
		}
	}
	slices.Sort(types)
	if !slices.Equal(types, []string{"CTS", "TIMER", "TIMER"}) {
		t.Errorf("triggers %v, want a CTS trigger, the nightly timer and the follow timer", types)
	}
}

// literal returns the string literal of attribute name of b.
func literal(t *testing.T, b *hclsyntax.Block, name string) string {
	t.Helper()
	a, ok := b.Body.Attributes[name]
	if !ok {
		return ""
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String {
		t.Fatalf("%s %s: not a string literal", b.Labels, name)
	}
	return v.AsString()
}

// terraformResources parses deploy/functiongraph/*.tf: its resources by
// type and name, and the defaults of its variables (var.*).
func terraformResources(t *testing.T) (map[string]map[string]*hclsyntax.Block, cty.Value) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "functiongraph", "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Terraform files: %v", err)
	}
	resources := map[string]map[string]*hclsyntax.Block{}
	defaults := map[string]cty.Value{}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", file, diags)
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch {
			case b.Type == "resource" && len(b.Labels) == 2:
				if resources[b.Labels[0]] == nil {
					resources[b.Labels[0]] = map[string]*hclsyntax.Block{}
				}
				resources[b.Labels[0]][b.Labels[1]] = b
			case b.Type == "variable" && len(b.Labels) == 1:
				if a, ok := b.Body.Attributes["default"]; ok {
					v, diags := a.Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatalf("variable %s: %v", b.Labels[0], diags)
					}
					defaults[b.Labels[0]] = v
				}
			}
		}
	}
	return resources, cty.ObjectVal(defaults)
}

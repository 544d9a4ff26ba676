package rules_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/restorepoint/restorepoint/rules"
)

func Example() {
	set, err := rules.Parse("example.yaml", []byte(`
rules:
  - name: ci-production
    match: 'headers["x-ci-event"] == "deploy" && data.environment == "production"'
    action:
      type: deploy.pre
      id: '"ci/" + string(data.pipeline)'
      subject: 'data.app'
      vault_id: '"3b5816b5-f29c-4172-9d9a-76c719a659ce"'
      resources: '["94eba8b2-acc9-4d82-badc-127144cc5526"]'
  - name: skip-staging
    match: 'data.environment == "staging"'
    action:
      type: ignore
      reason: '"staging is not backed up"'
`))
	if err != nil {
		fmt.Println(err) // every problem, naming rule and field
		return
	}
	h := http.Header{"X-Ci-Event": {"deploy"}}
	in := rules.NewInput(h, []byte(`{"app":"shop","environment":"production","pipeline":48213}`))
	m, err := set.Eval(context.Background(), in)
	if err != nil || m == nil {
		fmt.Println("no match", err)
		return
	}
	t, err := m.Trigger(in.Base())
	if err != nil {
		fmt.Println(err) // answer 400
		return
	}
	fmt.Println(m.Rule, t.Kind, t.Ref.Source, t.Ref.ID, t.DeployPre.Service, t.DeployPre.Resources[0].ID)
	// Output: ci-production deploy.pre webhook ci/48213 shop 94eba8b2-acc9-4d82-badc-127144cc5526
}

package cbrtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
)

// A test starts the emulator, points its client at srv.URL and asserts on
// what the emulator saw.
func ExampleNewServer() {
	srv := cbrtest.NewServer(cbrtest.Options{})
	defer srv.Close()

	body := `{"checkpoint":{"vault_id":"` + cbrtest.ExampleVaultID + `",` +
		`"parameters":{"name":"nightly","resources":["` + cbrtest.ExampleServerID + `"]}}}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v3/"+cbrtest.DefaultProjectID+"/checkpoints", strings.NewReader(body))
	req.Header.Set("X-Auth-Token", cbrtest.DefaultToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()

	var out cbr.CheckpointResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		fmt.Println(err)
		return
	}
	cp := out.Checkpoint
	fmt.Println(resp.StatusCode, cp.Status, cp.Vault.Name, cp.ExtraInfo.Name)
	for _, r := range cp.Vault.Resources {
		fmt.Println(r.Name, r.Type, r.ResourceSize)
	}
	fmt.Println("creates:", srv.CountCreates())
	// Output:
	// 200 protecting vault-be94 nightly
	// ecs-1f0f-0002 OS::Nova::Server 40
	// creates: 1
}

// Faults make the next matching requests fail, here with throttling.
func ExampleEmulator_Inject() {
	srv := cbrtest.NewServer(cbrtest.Options{})
	defer srv.Close()
	srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: http.StatusTooManyRequests, RetryAfter: "1"})

	body := `{"checkpoint":{"vault_id":"` + cbrtest.ExampleVaultID + `"}}`
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v3/"+cbrtest.DefaultProjectID+"/checkpoints", strings.NewReader(body))
		req.Header.Set("X-Auth-Token", cbrtest.DefaultToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Output:
	// 429 1
	// 200
}

// Seeded history: a week of nightly restore points of one server, and one
// of them deleted over HTTP.
func ExampleEmulator_SeedCheckpoints() {
	now := time.Date(2025, 3, 10, 2, 0, 0, 0, time.UTC)
	srv := cbrtest.NewServer(cbrtest.Options{Now: func() time.Time { return now }})
	defer srv.Close()

	var seeds []cbrtest.Seed
	for day := range 7 {
		seeds = append(seeds, cbrtest.Seed{
			VaultID: cbrtest.ExampleVaultID, Resources: []string{cbrtest.ExampleServerID},
			Name: fmt.Sprintf("nightly-%d", day), CreatedAt: now.AddDate(0, 0, day-7),
		})
	}
	if _, err := srv.SeedCheckpoints(seeds...); err != nil {
		fmt.Println(err)
		return
	}
	oldest := srv.Backups()[0]
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v3/"+cbrtest.DefaultProjectID+"/backups/"+oldest.ID, nil)
	req.Header.Set("X-Auth-Token", cbrtest.DefaultToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("DELETE", oldest.Name, resp.StatusCode)
	for _, b := range srv.Backups() {
		fmt.Println(b.Name, b.CreatedAt.Format(time.DateOnly), b.Status)
	}
	// Output:
	// DELETE nightly-0 204
	// nightly-1 2025-03-04 available
	// nightly-2 2025-03-05 available
	// nightly-3 2025-03-06 available
	// nightly-4 2025-03-07 available
	// nightly-5 2025-03-08 available
	// nightly-6 2025-03-09 available
}
